-- Socket class against a real scripted TCP server (see lua_test.go).

local TCP, HTTP, UNIX, REFUSED, TLS = ...
local HOST, PORT = TCP:match("^(.+):(%d+)$")
PORT = tonumber(PORT)

local function open(t, cmd)
  local s = core.tcp()
  local r = s:connect(HOST, PORT)
  if r ~= 1 then t:fatal("connect:", r) end
  if s:send(cmd .. "\n") ~= #cmd + 1 then t:fatal("send command") end
  return s
end

function TestReceiveLines(t)
  local s = open(t, "LINES")
  local want = {"a", "b\rc", "", "d"}
  for i, w in ipairs(want) do
    local l, err = s:receive("*l")
    if l ~= w then t:error("line", i, "got", l, err) end
  end
  -- "\rlast" then close: partial line returned as is
  local l = s:receive()
  if l ~= "\rlast" then t:error("partial last line:", l) end
  local l2, err = s:receive("*l")
  if l2 ~= nil or err ~= "connection closed." then t:error("after close:", l2, err) end
  s:close()
end

function TestReceiveAllAndPrefix(t)
  local s = open(t, "ALL")
  local data = s:receive("*a", "P:")
  if not data or #data ~= 100002 or data:sub(1, 3) ~= "P:x" then t:error("*a with prefix, got", data and #data) end
  local again, err = s:receive("*a")
  if again ~= nil or err ~= "connection closed." then t:error("*a after close:", again, err) end
  -- with a prefix and nothing read, the prefix comes back (HAProxy's buffer holds it)
  if s:receive("*a", "pre") ~= "pre" then t:error("prefix only after close") end
end

function TestReceiveCounts(t)
  local s = open(t, "COUNT")
  if s:receive(4) ~= "0123" then t:error("receive(4)") end
  if s:receive("3") ~= "456" then t:error("receive('3')") end
  if s:receive(10) ~= "789" then t:error("short read returns what was read") end
  local r, err = s:receive(1)
  if r ~= nil or err ~= "connection closed." then t:error("closed:", r, err) end
  local ok, e = pcall(s.receive, s, "*x")
  if ok or not tostring(e):find("Unsupported pattern.", 1, true) then t:error("bad pattern:", e) end
  ok, e = pcall(s.receive, s, -1)
  if ok or not tostring(e):find("Unsupported size.", 1, true) then t:error("negative size:", e) end
  ok, e = pcall(s.receive, s, "*l", 5)
  if ok or not tostring(e):find("Expect a 'string' for the prefix", 1, true) then t:error("prefix type:", e) end
end

function TestEchoAndSendRanges(t)
  local s = open(t, "ECHO")
  if s:send("xxhello\nyy", 3, 8) ~= 8 then t:error("send(i, j) returns the last index") end
  if s:receive() ~= "echo:hello" then t:error("echo") end
  if s:send("abc", 5) ~= 0 then t:error("i > j sends nothing") end
  if s:send("tail\n", -5) ~= 5 then t:error("negative i") end
  if s:receive() ~= "echo:tail" then t:error("echo tail") end
  local peer = s:getpeername()
  if peer ~= TCP then t:error("getpeername:", peer, "want", TCP) end
  local me = s:getsockname()
  if not me or not me:match("^127%.0%.0%.1:%d+$") then t:error("getsockname:", me) end
  if s:setoption("keepalive", true) ~= nil then t:error("setoption is a no-op") end
  s:close()
  if s:send("x") ~= -1 then t:error("send after close must return -1") end
  if s:getpeername() ~= nil then t:error("getpeername after close") end
end

function TestSendAfterPeerClose(t)
  local s = open(t, "CLOSE")
  local r = s:receive("*a")
  if r ~= nil then t:error("peer closed, nothing to read") end
  local last
  for i = 1, 50 do
    last = s:send(string.rep("z", 65536))
    if last == -1 then break end
  end
  if last ~= -1 then t:error("send on a reset connection must end in -1, got", last) end
end

function TestTimeoutSurfacesAsClose(t)
  local s = open(t, "SLOW")
  s:settimeout(0.1)
  local r, err = s:receive("*l")
  if r ~= nil or err ~= "connection closed." then t:error("timeout:", r, err) end
  local ok, e = pcall(s.settimeout, s, -1)
  if ok or not tostring(e):find("settimeout: cannot set negatives values", 1, true) then t:error("negative timeout:", e) end
end

function TestConnectErrors(t)
  local s = core.tcp()
  local r, err = s:connect(REFUSED)
  if r ~= nil or err ~= "Can't connect" then t:error("refused:", r, err) end
  local ok, e = pcall(core.tcp().connect, core.tcp(), "127.0.0.1")
  if ok or not tostring(e):find("connect: port missing", 1, true) then t:error("port missing:", e) end
  ok, e = pcall(core.tcp().connect, core.tcp(), "ipvx@1.2.3.4:80")
  if ok or not tostring(e):find("connect: cannot parse destination address", 1, true) then t:error("parse:", e) end
  ok, e = pcall(core.tcp().connect, core.tcp())
  if ok or not tostring(e):find("connect: need at least 2 arguments", 1, true) then t:error("args:", e) end
  -- HAProxy address forms
  local s2 = core.tcp()
  if s2:connect("ipv4@" .. TCP) ~= 1 then t:error("ipv4@ form") end
  s2:close()
  local s3 = core.tcp()
  if s3:connect("ipv4@" .. HOST, PORT) ~= 1 then t:error("addr + port") end
  s3:close()
end

function TestSocketContexts(t)
  -- body/init: connect returns nothing
  local ok, n = t:run_as("body", function() return select("#", core.tcp():connect(HOST, PORT)) end)
  if not ok or n ~= 0 then t:error("connect in body must return nothing:", ok, n) end
  ok, n = t:run_as("init", function() return select("#", core.tcp():connect(HOST, PORT)) end)
  if not ok or n ~= 0 then t:error("connect in init must return nothing:", ok, n) end
  -- fetch: yield not allowed
  local err
  ok, err = t:run_as("sample-fetch", function() return core.tcp():connect(HOST, PORT) end)
  if ok or err ~= "yield not allowed" then t:error("connect in fetch:", ok, err) end
  -- action: allowed
  ok, n = t:run_as("action", function() local s = core.tcp(); local r = s:connect(HOST, PORT); s:close(); return r end)
  if not ok or n ~= 1 then t:error("connect in action:", ok, n) end
end

-- mailers.lua's smtp_send_email, as written there.
local function smtp_send_email(server, timeout, domain, from, to, data)
  local ret
  local reason
  local tcp = core.tcp()
  local smtp_wait_code = function(tcp, code)
    local ret
    -- Read headers until we reac a 2.. code.
    while true do
      -- read line
      ret = tcp:receive("*l")
      if ret == nil then
        return false, "Connection unexpectedly closed"
      end
      -- expected code
      if string.match(ret, code) ~= nil then
        return true, nil
      end
      -- other code
      if string.match(ret, '^%d%d%d ') ~= nil then
        return false, ret
      end
      -- other informational message, wait.
    end
  end

  if timeout ~= nil and timeout > 0 then
    tcp:settimeout(timeout / 1000)
  end

  if tcp:connect(server) == nil then
    return false, "Can't connect to \""..server.."\""
  end

  ret, reason = smtp_wait_code(tcp, '^220 ')
  if ret == false then
    tcp:close()
    return false, reason
  end

  if tcp:send("HELO " .. domain .. "\r\n") == nil then
    tcp:close()
    return false, "Connection unexpectedly closed"
  end

  ret, reason = smtp_wait_code(tcp, '^250 ')
  if ret == false then
    tcp:close()
    return false, reason
  end

  if tcp:send("MAIL FROM: <" .. from .. ">\r\n") == nil then
    tcp:close()
    return false, "Connection unexpectedly closed"
  end

  ret, reason = smtp_wait_code(tcp, '^250 ')
  if ret == false then
    tcp:close()
    return false, reason
  end

  if tcp:send("RCPT TO: <" .. to .. ">\r\n") == nil then
    tcp:close()
    return false, "Connection unexpectedly closed"
  end

  ret, reason = smtp_wait_code(tcp, '^250 ')
  if ret == false then
    tcp:close()
    return false, reason
  end

  if tcp:send("DATA\r\n") == nil then
    tcp:close()
    return false, "Connection unexpectedly closed"
  end

  ret, reason = smtp_wait_code(tcp, '^354 ')
  if ret == false then
    tcp:close()
    return false, reason
  end

  if tcp:send(data .. "\r\n.\r\n") == nil then
    tcp:close()
    return false, "Connection unexpectedly closed"
  end

  ret, reason = smtp_wait_code(tcp, '^250 ')
  if ret == false then
    tcp:close()
    return false, reason
  end

  if tcp:send("QUIT\r\n") == nil then
    tcp:close()
    return false, "Connection unexpectedly closed"
  end

  ret, reason = smtp_wait_code(tcp, '^221 ')
  if ret == false then
    tcp:close()
    return false, reason
  end

  tcp:close()
  return true, nil
end

function TestMailersSMTPDialogue(t)
  -- The scripted server speaks SMTP after an "SMTP" line; wrap connect so the
  -- first line is sent, exactly like a proxy that selects the protocol.
  local real_tcp = core.tcp
  core.tcp = function()
    local s = real_tcp()
    local mt = {__index = function(_, k)
      if k == "connect" then
        return function(_, addr) local r = s:connect(addr); if r then s:send("SMTP\n") end; return r end
      end
      return function(_, ...) return s[k](s, ...) end
    end}
    return setmetatable({}, mt)
  end
  local ok, reason = smtp_send_email(TCP, 5000, "lb1", "lb@example.com", "ops@example.com",
    "From: lb@example.com\r\nTo: ops@example.com\r\nSubject: [HAProxy Alert] test\r\n\r\ntest\r\n")
  core.tcp = real_tcp
  if not ok then t:error("smtp dialogue failed:", reason) end
end

function TestConnectSSL(t)
  local host, port = TLS:match("^(.+):(%d+)$")
  local s = core.tcp()
  if s:connect_ssl(host, tonumber(port)) ~= 1 then t:fatal("connect_ssl") end
  s:send("GET /echo HTTP/1.0\r\nHost: tls.test\r\n\r\n")
  local status = s:receive("*l")
  if status ~= "HTTP/1.0 201 Created" then t:error("status line over TLS:", status) end
  s:close()
  local ok, err = pcall(s.connect_ssl, s, host)
  if ok or not tostring(err):find("'connect_ssl' needs 3 arguments", 1, true) then t:error("args:", err) end
end

function TestSendEdgeRanges(t)
  local s = open(t, "ECHO")
  if s:send("", -5, -1) ~= 0 then t:error("empty string with negative range") end
  if s:send("abc", 2, 100) ~= 3 then t:error("j beyond the end is clamped") end
  if s:send("\n") ~= 1 then t:error("newline") end
  if s:receive() ~= "echo:bc" then t:error("echo of the range") end
  s:close()
end
