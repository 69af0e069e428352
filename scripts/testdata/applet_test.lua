-- AppletHTTP and AppletTCP against a real engine (applet_test.cfg).
local h = require("testdata.helpers")

seen = {}

core.register_service("echo_http", "http", function(applet)
  local r = {}
  r.method, r.version, r.path, r.qs, r.length = applet.method, applet.version, applet.path, applet.qs, applet.length
  r.headers = applet.headers
  r.first = applet:receive(4)
  r.rest = applet:receive()
  r.after = applet:receive()
  r.bad_status = applet:set_status(99)
  r.status = applet:set_status(201, "Made")
  r.src = applet.f:src()
  r.path_f = applet.sf:path()
  r.upper = applet.c:upper("abc")
  r.set = applet:set_var("txn.a", "va")
  r.get = applet:get_var("txn.a")
  r.set_bad = applet:set_var("bad.x", 1)
  r.unset = applet:unset_var("txn.a")
  r.after_unset = applet:get_var("txn.a")
  r.priv0 = applet:get_priv()
  applet:set_priv("p")
  r.priv1 = applet:get_priv()
  seen.echo = r
  local body = "got " .. r.first .. r.rest
  applet:add_header("x-a", "1")
  applet:add_header("x-a", 2)
  applet:add_header("content-length", #body)
  applet:start_response()
  applet:add_header("x-late", "ignored")
  applet:send(body)
end)

core.register_service("lines", "http", function(applet)
  local lines = {}
  while true do
    local l = applet:getline()
    if l == "" then break end
    lines[#lines + 1] = l
  end
  seen.lines = lines
  local body = tostring(#lines)
  applet:add_header("content-length", #body)
  applet:start_response()
  applet:send(body)
end)

core.register_service("fail", "http", function(applet)
  error("service failed")
end)

core.register_service("nostart", "http", function(applet) end)

core.register_service("chunked", "http", function(applet)
  applet:start_response()
  applet:send("part1,")
  applet:send("part2")
end)

core.register_service("sendfirst", "http", function(applet)
  seen.sendfirst_ok, seen.sendfirst_err = pcall(function() applet:send("x") end)
  applet:start_response()
end)

core.register_service("tcp_echo", "tcp", function(applet)
  local r = {}
  r.line = applet:getline()
  r.data = applet:receive(3)
  r.timed = applet:receive(10, 100)
  r.try = applet:try_receive()
  r.src = applet.f:src()
  r.set = applet:set_var("txn.t", 1)
  r.get = applet:get_var("txn.t")
  r.unset = applet:unset_var("txn.t")
  r.priv0 = applet:get_priv()
  applet:set_priv({n = 1})
  r.priv1 = applet:get_priv().n
  seen.tcp = r
  applet:send("step1\n")
  local d2 = applet:receive(3)
  applet:send("got " .. d2 .. "\n")
  local tr
  for i = 1, 200 do
    tr = applet:try_receive()
    if tr then break end
    core.msleep(5)
  end
  applet:send("try " .. tostring(tr) .. "\n")
  r.eof = applet:receive()
end)

function TestAppletHTTPFieldsAndBody(t)
  local st, hd, body = h.request(ADDR.fe_app, "POST", "/echo/x?a=1&b=2", {["X-Multi"] = "m"}, "abcdefgh")
  if st ~= 201 or body ~= "got abcdefgh" then t:fatal("response", st, body) end
  local r = seen.echo
  if r.method ~= "POST" or r.version ~= "1.1" or r.path ~= "/echo/x" or r.qs ~= "a=1&b=2" or r.length ~= 8 then
    t:error("fields", r.method, r.version, r.path, r.qs, r.length)
  end
  if r.headers["x-multi"][0] ~= "m" or r.headers["host"][0] ~= "test" then t:error("headers 0-based") end
  if r.first ~= "abcd" or r.rest ~= "efgh" or r.after ~= "" then t:error("receive", r.first, r.rest, r.after) end
  if r.bad_status ~= false or r.status ~= true then t:error("set_status results") end
  if r.src ~= "127.0.0.1" or r.path_f ~= "/echo/x" or r.upper ~= "ABC" then t:error("f/sf/c", r.src, r.path_f, r.upper) end
  if r.set ~= true or r.get ~= "va" or r.set_bad ~= false or r.unset ~= true or r.after_unset ~= nil then t:error("vars") end
  if r.priv0 ~= nil or r.priv1 ~= "p" then t:error("priv") end
  if #hd["x-a"] ~= 2 or hd["x-late"] ~= nil then t:error("headers after start_response must be ignored") end
end

function TestAppletHTTPGetline(t)
  local st, hd, body = h.request(ADDR.fe_app, "POST", "/lines", {}, "one\ntwo\nthree")
  if st ~= 200 or body ~= "3" then t:error("lines", st, body) end
  if seen.lines[1] ~= "one\n" or seen.lines[3] ~= "three" then t:error("getline keeps \\n", seen.lines[1], seen.lines[3]) end
end

function TestAppletHTTPErrorsAndDefaults(t)
  local st, hd, body = h.get(ADDR.fe_app, "/fail")
  if st ~= 500 then t:error("failing service must answer 500", st) end
  if not h.has(t:logs(), "Lua applet http 'fail': [state-id 0] runtime error: ") then t:error("error line", table.concat(t:logs(), "\n")) end
  st, hd, body = h.get(ADDR.fe_app, "/nostart")
  if st ~= 200 or body ~= "" then t:error("empty service", st, body) end
  st, hd, body = h.get(ADDR.fe_app, "/chunked")
  if st ~= 200 or hd["transfer-encoding"][1] ~= "chunked" or body ~= "part1,part2" then t:error("chunked", st, body) end
  h.get(ADDR.fe_app, "/sendfirst")
  if seen.sendfirst_ok or not tostring(seen.sendfirst_err):find("you must call start_response() before sending data", 1, true) then
    t:error("send before start_response", seen.sendfirst_err)
  end
end

function TestAppletTCP(t)
  local s = h.connect(ADDR.fe_tcp)
  s:send("hello\nabc")
  if s:receive("*l") ~= "step1" then t:fatal("step1") end
  local r = seen.tcp
  if r.line ~= "hello\n" or r.data ~= "abc" then t:error("getline/receive", r.line, r.data) end
  if r.timed ~= nil then t:error("receive with a timeout and no data must give nil", r.timed) end
  if r.try ~= nil then t:error("try_receive with no data must give nil", r.try) end
  if r.src ~= "127.0.0.1" or r.set ~= true or r.get ~= 1 or r.unset ~= true then t:error("f / vars", r.src, r.set, r.get) end
  if r.priv0 ~= nil or r.priv1 ~= 1 then t:error("priv", r.priv0, r.priv1) end
  s:send("xyz")
  if s:receive("*l") ~= "got xyz" then t:error("receive(3)") end
  s:send("q")
  local l = s:receive("*l")
  if l ~= "try q" then t:error("try_receive", l) end
  s:close()
  for i = 1, 100 do
    if r.eof then break end
    core.msleep(10)
  end
  if r.eof ~= "" then t:error("receive at EOF must give \"\"", r.eof) end
end
