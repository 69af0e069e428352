-- The event framework over a real engine and bus (events_test.cfg):
-- core.event_sub, Server:event_sub, EventSub:unsub, the data tables, the
-- event context and error handling.

-- Subscriptions made in body context are armed when the runtime starts.
body_events = {}
body_sub = core.event_sub({"SERVER_ADMIN"}, function(event, data, sub, when)
  body_events[#body_events + 1] = event .. " " .. data.name
end)

-- wait_for polls cond (yielding) until it returns true or 5s pass.
local function wait_for(t, what, cond)
  local deadline = core.now().sec + 5
  while not cond() do
    if core.now().sec > deadline then
      t:fatal("timed out waiting for " .. what)
    end
    core.msleep(2)
  end
end

-- recorder returns a handler storing every call, and the list.
local function recorder()
  local got = {}
  return function(event, data, sub, when)
    got[#got + 1] = { event = event, data = data, sub = sub, when = when }
  end, got
end

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  if ok then return nil end
  return tostring(err)
end

local function ends(s, suffix)
  return s ~= nil and s:sub(-#suffix) == suffix
end

function TestEventSubArguments(t)
  local f = function() end
  local e = err_of(core.event_sub, {}, f)
  if not ends(e, "event_sub: no valid event types were provided") then t:error("empty", e) end
  e = err_of(core.event_sub, {"SERVER_DOWN", "NOPE"}, f)
  if not ends(e, "'NOPE' event type is unknown") then t:error("unknown", e) end
  e = err_of(core.event_sub, {"SERVER_DOWN", 3}, f)
  if not ends(e, "table of strings expected") then t:error("not a string", e) end
  e = err_of(core.event_sub, {"SERVER_DOWN"})
  if not ends(e, "'event_sub' needs 2 arguments") then t:error("arg count", e) end
  e = err_of(core.event_sub, "SERVER_DOWN", f)
  if e == nil or not e:find("table expected, got string", 1, true) then t:error("not a table", e) end
  e = err_of(core.event_sub, {"SERVER_DOWN"}, 42)
  if e == nil or not e:find("function expected", 1, true) then t:error("not a function", e) end
  local s1 = core.backends.be.servers.s1
  e = err_of(s1.event_sub, s1, {"server_down"}, f)
  if not ends(e, "'server_down' event type is unknown") then t:error("names are case-sensitive", e) end
  -- Names HAProxy knows but Moonbus never publishes: valid and silent.
  local silent = core.event_sub({"PAT_REF", "SERVER_NAME"}, f)
  if silent == nil or not tostring(silent):find("^EventSub: ") then t:error("silent sub", tostring(silent)) end
  silent:unsub()
  silent:unsub() -- idempotent
  -- Families: SERVER and our BACKEND.
  core.event_sub({"SERVER", "BACKEND"}, f):unsub()
end

function TestAdminChangeData(t)
  local s1 = core.backends.be.servers.s1
  local h, got = recorder()
  local sub = s1:event_sub({"SERVER"}, h)
  local gh, gall = recorder()
  local gsub = core.event_sub({"SERVER_ADMIN", "SERVER_DOWN", "SERVER_STATE", "SERVER_UP"}, gh)
  local t0 = os.time()
  s1:set_maint()
  wait_for(t, "3 server events", function() return #got >= 3 end)
  wait_for(t, "3 global events", function() return #gall >= 3 end)
  local order = {}
  for i, g in ipairs(got) do order[i] = g.event end
  if table.concat(order, ",") ~= "SERVER_ADMIN,SERVER_DOWN,SERVER_STATE" then t:error("order", table.concat(order, ",")) end
  for i, g in ipairs(gall) do
    if g.event ~= order[i] or g.data.name ~= "s1" then t:error("global order", i, g.event) end
  end
  local adm = got[1]
  local d = adm.data
  if d.name ~= "s1" or d.puid ~= 1 or d.rid ~= 0 or d.proxy_name ~= "be" or type(d.proxy_uuid) ~= "number" then
    t:error("common fields", d.name, d.puid, d.rid, d.proxy_name, d.proxy_uuid)
  end
  if d.proxy_uuid ~= core.backends.be:get_uuid() then t:error("proxy_uuid", d.proxy_uuid) end
  if d.reference == nil or d.reference:get_name() ~= "s1" then t:error("reference") end
  if d.state ~= nil or d.check ~= nil then t:error("admin event carries only admin") end
  if type(adm.when) ~= "number" or adm.when < t0 or adm.when > os.time() then t:error("when", adm.when) end
  if adm.sub ~= sub then t:error("sub argument is the EventSub") end
  local a = d.admin
  if a.cause ~= "" or a.requeued ~= 0 then t:error("admin cause/requeued", a.cause, a.requeued) end
  local keys = {"MAINT", "FMAINT", "IMAINT", "RMAINT", "CMAINT", "DRAIN", "FDRAIN", "IDRAIN"}
  for _, k in ipairs(keys) do
    if a.old_admin[k] ~= false then t:error("old_admin", k, tostring(a.old_admin[k])) end
    local want = (k == "MAINT" or k == "FMAINT")
    if a.new_admin[k] ~= want then t:error("new_admin", k, tostring(a.new_admin[k])) end
  end
  local n = 0
  for _ in pairs(a.new_admin) do n = n + 1 end
  if n ~= 8 then t:error("admin keys", n) end
  -- SERVER_DOWN: common fields only; SERVER_STATE: the state table.
  if got[2].data.state ~= nil or got[2].data.name ~= "s1" then t:error("down data") end
  local st = got[3].data.state
  if st == nil or st.admin ~= true or st.old_state ~= "RUNNING" or st.new_state ~= "STOPPED" or st.requeued ~= 0
    or st.cause ~= "" or st.check ~= nil then
    t:error("state table", st and st.old_state, st and st.new_state)
  end
  -- The data is a snapshot; the reference is live.
  s1:set_ready()
  wait_for(t, "ready events", function() return #got >= 6 end)
  if got[4].data.admin.new_admin.MAINT ~= false or got[4].data.admin.old_admin.FMAINT ~= true then t:error("ready admin") end
  if got[5].event ~= "SERVER_UP" or got[6].data.state.new_state ~= "RUNNING" then t:error("ready order", got[5].event) end
  if d.admin.new_admin.MAINT ~= true then t:error("snapshot changed") end
  if d.reference:get_stats().status ~= "no check" then t:error("live reference", d.reference:get_stats().status) end
  sub:unsub()
  gsub:unsub()
  -- Body-time subscription armed at start.
  if body_events[1] ~= "SERVER_ADMIN s1" then t:error("body subscription", body_events[1]) end
  body_sub:unsub()
end

function TestBackendEvents(t)
  local x = core.backends.solo.servers.x
  local h, got = recorder()
  local sub = core.event_sub({"BACKEND"}, h)
  x:set_maint()
  wait_for(t, "BACKEND_DOWN", function() return #got >= 1 end)
  x:set_ready()
  wait_for(t, "BACKEND_UP", function() return #got >= 2 end)
  sub:unsub()
  local d, u = got[1], got[2]
  if d.event ~= "BACKEND_DOWN" or u.event ~= "BACKEND_UP" then t:error("events", d.event, u.event) end
  if d.data.proxy_name ~= "solo" or d.data.active ~= 0 or d.data.backup ~= 0 or d.data.proxy_uuid ~= core.backends.solo:get_uuid() then
    t:error("down data", d.data.proxy_name, d.data.active)
  end
  if u.data.active ~= 1 or u.data.reference:get_name() ~= "solo" then t:error("up data", u.data.active) end
end

function TestServerSubscriptionIsPerServer(t)
  local be = core.backends.be
  local h1, got1 = recorder()
  local sub1 = be.servers.s1:event_sub({"SERVER_ADMIN"}, h1)
  local h2, got2 = recorder()
  local sub2 = core.event_sub({"SERVER_ADMIN"}, h2)
  be.servers.s2:set_drain()
  be.servers.s1:set_drain()
  wait_for(t, "global sees both", function() return #got2 >= 2 end)
  wait_for(t, "s1 sees its own", function() return #got1 >= 1 end)
  be.servers.s1:set_ready()
  be.servers.s2:set_ready()
  wait_for(t, "global sees 4", function() return #got2 >= 4 end)
  wait_for(t, "s1 sees 2", function() return #got1 >= 2 end)
  sub1:unsub()
  sub2:unsub()
  if got2[1].data.name ~= "s2" or got2[2].data.name ~= "s1" then t:error("global order", got2[1].data.name) end
  for _, g in ipairs(got1) do
    if g.data.name ~= "s1" then t:error("s1 subscription saw", g.data.name) end
  end
  if #got1 ~= 2 then t:error("s1 events", #got1) end
  local a = got1[1].data.admin
  if not a.new_admin.DRAIN or not a.new_admin.FDRAIN or a.new_admin.MAINT then t:error("drain flags") end
end

function TestHandlerContextAndErrors(t)
  local s1 = core.backends.be.servers.s1
  local got = {}
  local sub = s1:event_sub({"SERVER_ADMIN"}, function(event, data, sub, when)
    got[#got + 1] = "start " .. tostring(data.admin.new_admin.DRAIN)
    if #got == 1 then
      -- Event context can block: sleep, socket, queue.
      core.msleep(20)
      local s = core.tcp()
      s:settimeout(2)
      local ok = s:connect(BACKEND)
      got[#got + 1] = "connect " .. tostring(ok)
      s:close()
      error("boom")
    end
    got[#got + 1] = "second"
  end)
  s1:set_drain()
  s1:set_ready()
  wait_for(t, "both calls", function() return got[#got] == "second" end)
  sub:unsub()
  local s = table.concat(got, "|")
  if s ~= "start true|connect 1|start false|second" then t:error("calls", s) end
  local found = false
  for _, l in ipairs(t:logs()) do
    if l:find("Lua event_hdl: [state-id 0] runtime error: ", 1, true) and l:find("boom", 1, true) then found = true end
  end
  if not found then t:error("error line", table.concat(t:logs(), "\n")) end
end

function TestUnsubInsideHandler(t)
  local s1 = core.backends.be.servers.s1
  local n = 0
  s1:event_sub({"SERVER"}, function(event, data, sub)
    sub:unsub()
    n = n + 1
  end)
  local h, ctl = recorder()
  local csub = s1:event_sub({"SERVER"}, h)
  s1:set_maint()
  wait_for(t, "control batch", function() return #ctl >= 3 end)
  wait_for(t, "first call", function() return n >= 1 end)
  s1:set_ready()
  wait_for(t, "control second batch", function() return #ctl >= 6 end)
  csub:unsub()
  if n ~= 1 then t:error("unsubscribed handler ran", n, "times") end
end

function TestGetMailersFromConfig(t)
  local m = core.backends.mailed:get_mailers()
  if m == nil then t:fatal("no mailers") end
  if m.track_server_health ~= true or m.log_level ~= 5 or m.mailservers_timeout ~= 7000 then
    t:error("track/level/timeout", m.track_server_health, m.log_level, m.mailservers_timeout)
  end
  if m.smtp_hostname ~= "lb1.example.com" or m.smtp_from ~= "lb@example.com" or m.smtp_to ~= "ops@example.com" then
    t:error("smtp", m.smtp_hostname, m.smtp_from, m.smtp_to)
  end
  if m.mailservers.m1 ~= "127.0.0.1:2525" or m.mailservers.m2 ~= "::1:2526" then
    t:error("mailservers", m.mailservers.m1, m.mailservers.m2)
  end
  -- Without "to" HAProxy drops the email-alert settings: no value.
  if select("#", core.backends.half_mailed:get_mailers()) ~= 0 then t:error("incomplete email-alert must return nothing") end
  local d = core.backends.be:get_mailers()
  if d ~= nil then t:error("no email-alert") end
end
