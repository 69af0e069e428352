-- Email alerts sent from Lua, in the manner of HAProxy's
-- examples/lua/mailers.lua (Moonbus's own version): the legacy "mailers"
-- section and the backends' "email-alert" lines say where and what to send;
-- the script follows every server's events and a worker task speaks SMTP
-- over core.tcp(). Once a script calls core.use_native_mailers_config() (or
-- the 2.8-era core.disable_legacy_mailers()), the native mailer stays quiet.

local LEVEL = { EMERG = 0, ALERT = 1, CRIT = 2, ERR = 3, WARNING = 4, NOTICE = 5, INFO = 6, DEBUG = 7 }

-- Alerts waiting for the worker task.
local outbox = core.queue()

core.use_native_mailers_config()

-- "<n> active and <n> backup servers left. ..." as HAProxy's alerts end.
local function servers_left(srv, requeued)
  local px = srv:get_proxy()
  return string.format("%d active and %d backup servers left. %d sessions active, %d requeued, %d remaining in queue",
    px:get_srv_act(), px:get_srv_bck(), srv:get_cur_sess(), requeued, srv:get_pend_conn())
end

-- Appends the details of a check result.
local function add_check(msg, check)
  msg:add(", reason: " .. check.reason.desc)
  if check.reason.code ~= nil then
    msg:add(", code: " .. check.reason.code)
  end
  if check.duration >= 0 then
    msg:add(", check duration: " .. check.duration .. "ms")
  end
end

local function name_of(srv)
  return srv:get_proxy():get_name() .. "/" .. srv:get_name()
end

-- Queues an alert when the proxy's email-alert level lets it through.
local function alert(srv, level, text, when)
  local conf = srv:get_proxy():get_mailers()
  if conf == nil or level > conf.log_level then
    return
  end
  outbox:push({ conf = conf, text = text, when = when })
end

-- SERVER_STATE: a server goes UP or DOWN (operational changes only).
local function on_state(srv, data, when)
  local st = data.state
  if st.admin then
    return
  end
  local level = LEVEL.ALERT
  if st.old_state == "STOPPING" or srv:is_draining() then
    level = LEVEL.NOTICE
  end
  local msg = core.concat()
  msg:add("Server " .. name_of(srv) .. " is " .. (st.new_state == "RUNNING" and "UP" or "DOWN"))
  local tracked = srv:tracking()
  if tracked ~= nil then
    msg:add(" via " .. name_of(tracked))
  end
  if st.check ~= nil then
    add_check(msg, st.check)
  elseif st.cause ~= "" then
    msg:add(" (" .. st.cause .. ")")
  end
  msg:add(". " .. servers_left(srv, st.requeued))
  alert(srv, level, msg:dump(), when)
end

-- SERVER_ADMIN: report a server entering drain.
local function on_admin(srv, data, when)
  local a = data.admin
  if a.old_admin.DRAIN or not a.new_admin.DRAIN or a.new_admin.MAINT then
    return
  end
  local msg = core.concat()
  msg:add("Server " .. name_of(srv) .. " enters drain state")
  local tracked = srv:tracking()
  if tracked ~= nil and a.new_admin.IDRAIN then
    msg:add(" via " .. name_of(tracked))
  end
  msg:add(". " .. servers_left(srv, a.requeued))
  alert(srv, LEVEL.NOTICE, msg:dump(), when)
end

-- SERVER_CHECK: every reported check result (option log-health-checks).
local function on_check(srv, data, when)
  local c = data.check
  local msg = core.concat()
  msg:add(c.agent and "Agent" or "Health")
  msg:add(" check for " .. (srv:is_backup() and "backup " or "") .. "server " .. name_of(srv) .. " ")
  if c.result == "PASSED" then
    msg:add("succeeded")
  elseif c.result == "CONDPASS" then
    msg:add("conditionally succeeded")
  else
    msg:add("failed")
  end
  add_check(msg, c)
  local h = c.health
  if h.cur >= h.rise then
    msg:add(string.format(", status: %d/%d UP", h.cur - h.rise + 1, h.fall))
  else
    msg:add(string.format(", status: %d/%d DOWN", h.cur, h.rise))
  end
  alert(srv, LEVEL.INFO, msg:dump(), when)
end

local on_event = { SERVER_STATE = on_state, SERVER_ADMIN = on_admin, SERVER_CHECK = on_check }

local function dispatch(event, data, sub, when)
  local srv = data.reference
  if srv ~= nil and on_event[event] ~= nil then
    on_event[event](srv, data, when)
  end
end

-- Subscribes to a server's events when its proxy sends email alerts.
local function follow(srv)
  local conf = srv:get_proxy():get_mailers()
  if conf == nil then
    return
  end
  local types = { "SERVER_STATE", "SERVER_ADMIN" }
  if conf.track_server_health then
    types[#types + 1] = "SERVER_CHECK"
  end
  srv:event_sub(types, dispatch)
end

core.register_init(function()
  -- Servers added at runtime, then every configured one.
  core.event_sub({ "SERVER_ADD" }, function(event, data)
    if data.reference ~= nil then
      follow(data.reference)
    end
  end)
  for _, px in pairs(core.backends) do
    for _, srv in pairs(px.servers) do
      follow(srv)
    end
  end
end)

-- Reads reply lines until one carries a final code: true when it is the
-- expected one.
local function expect(sock, code)
  while true do
    local line = sock:receive("*l")
    if line == nil then
      return false, "Connection unexpectedly closed"
    end
    local got = line:match("^(%d%d%d) ")
    if got == code then
      return true
    elseif got ~= nil then
      return false, "unexpected reply: " .. line
    end
  end
end

-- Plain SMTP: HELO, MAIL, RCPT, DATA (dot-stuffed), QUIT.
local function smtp_send(addr, timeout_ms, helo, from, to, mail)
  local sock = core.tcp()
  if timeout_ms ~= nil and timeout_ms > 0 then
    sock:settimeout(timeout_ms / 1000)
  end
  if sock:connect(addr) == nil then
    return false, "Can't connect to \"" .. addr .. "\""
  end
  local body = ("\n" .. mail):gsub("\n%.", "\n.."):sub(2)
  local dialogue = {
    { nil, "220" },
    { "HELO " .. helo, "250" },
    { "MAIL FROM:<" .. from .. ">", "250" },
    { "RCPT TO:<" .. to .. ">", "250" },
    { "DATA", "354" },
    { body .. ".", "250" }, -- the mail ends with CRLF: this sends CRLF "." CRLF
    { "QUIT", "221" },
  }
  for _, step in ipairs(dialogue) do
    if step[1] ~= nil then
      local n = sock:send(step[1] .. "\r\n")
      if n == nil or n < 0 then
        sock:close()
        return false, "Connection unexpectedly closed"
      end
    end
    local ok, err = expect(sock, step[2])
    if not ok then
      sock:close()
      return false, err
    end
  end
  sock:close()
  return true
end

-- The worker: one mail per alert, to every mailer of the section.
core.register_task(function()
  while true do
    local job = outbox:pop_wait()
    if job == nil then
      return
    end
    local c = job.conf
    local mail = "From: " .. c.smtp_from .. "\r\n"
      .. "To: " .. c.smtp_to .. "\r\n"
      .. "Date: " .. os.date("%a, %d %b %Y %T %z (%Z)", job.when) .. "\r\n"
      .. "Subject: [HAProxy Alert] " .. job.text .. "\r\n"
      .. "\r\n"
      .. job.text .. "\r\n"
    for name, addr in pairs(c.mailservers) do
      local ok, err = smtp_send(addr, c.mailservers_timeout, c.smtp_hostname, c.smtp_from, c.smtp_to, mail)
      if not ok then
        core.Warning("Can't send email alert to " .. name .. ": " .. err)
      end
    end
  end
end)
