-- core functions and attributes, contexts and error texts.

-- body-context registrations, checked from Go (registry) and below.
core.register_fetches("body_fetch", function(txn, a) return a end)
core.register_converters("body_conv", function(v) return v end)
core.register_action("body_action", {"http-req", "tcp-req"}, function(txn) return act.STOP end, 1)
core.register_service("body.svc.http", "http", function(applet) end)
core.register_cli({"show", "lua", "thing"}, "show the thing", function(applet, a, b) end)
core.register_filter("body_filter", {id = "f"}, function(flt, args) return flt end)

local init_ran = false
core.register_init(function() init_ran = true end)

-- core.done in body is a no-op: execution goes on.
core.done()
BODY_AFTER_DONE = true

local function expect_err(t, want, f, ...)
  local ok, err = pcall(f, ...)
  if ok then t:error("expected error containing '" .. want .. "'") return end
  if not tostring(err):find(want, 1, true) then t:error("error '" .. tostring(err) .. "' does not contain '" .. want .. "'") end
end

function TestConstants(t)
  local want = {emerg = 0, alert = 1, crit = 2, err = 3, warning = 4, notice = 5, info = 6, debug = 7, silent = -1}
  for k, v in pairs(want) do
    if core[k] ~= v then t:error("core." .. k) end
  end
  if core.thread ~= 0 then t:error("core.thread in shared state must be 0, got", core.thread) end
  local acts = {CONTINUE = 0, STOP = 1, YIELD = 2, ERROR = 3, DONE = 4, DENY = 5, ABORT = 6, INVALID = 7}
  for k, v in pairs(acts) do
    if act[k] ~= v then t:error("act." .. k) end
  end
end

function TestBodyDoneAndInit(t)
  if not BODY_AFTER_DONE then t:error("core.done() in body must not stop the chunk") end
  if not init_ran then t:error("register_init function did not run") end
end

function TestLogging(t)
  core.log(core.notice, "notice line")
  core.Debug("debug line\n")
  core.Info("info line")
  core.Warning("warn line")
  core.Alert("alert\tline")
  local logs = table.concat(t:logs(), "|")
  for _, want in ipairs({"5 notice line", "7 debug line.", "6 info line", "4 warn line", "1 alert.line"}) do
    if not logs:find(want, 1, true) then t:error("missing log", want, "in", logs) end
  end
  expect_err(t, "'log' needs 2 arguments", core.log, 1)
  expect_err(t, "Invalid loglevel.", core.log, 9, "x")
  expect_err(t, "'debug' needs 1 arguments", core.Debug)
end

function TestGetInfoAndVars(t)
  local info = core.get_info()
  if info.Name ~= "Moonbus" or info.Nbthread ~= 2 or info.Uptime_sec ~= 12 then t:error("get_info") end
  if core.get_var("proc.counter") ~= 42 then t:error("get_var int") end
  if core.get_var("proc.flag") ~= true then t:error("get_var bool (normal conversion)") end
  if core.get_var("proc.name") ~= "lb" then t:error("get_var str") end
  if core.get_var("proc.unset") ~= nil then t:error("unset var") end
  expect_err(t, "Only 'proc.' scope allowed", core.get_var, "txn.foo")
  expect_err(t, "'get_var' needs 1 arguments", core.get_var)
  if core.set_var ~= nil then t:error("there is no core.set_var") end
end

function TestTimeAndDates(t)
  local n = core.now()
  if type(n.sec) ~= "number" or n.sec < 1700000000 or n.usec < 0 or n.usec >= 1000000 then t:error("now") end
  if core.http_date("Sun, 06 Nov 1994 08:49:37 GMT") ~= 784111777 then t:error("http_date imf") end
  if core.http_date("Sunday, 06-Nov-94 08:49:37 GMT") ~= 784111777 then t:error("http_date rfc850") end
  if core.http_date("Sun Nov  6 08:49:37 1994") ~= 784111777 then t:error("http_date asctime") end
  if core.imf_date("Sun, 06 Nov 1994 08:49:37 GMT") ~= 784111777 then t:error("imf_date") end
  if core.imf_date("Sun Nov  6 08:49:37 1994") ~= nil then t:error("imf_date must reject asctime") end
  if core.rfc850_date("Sunday, 06-Nov-94 08:49:37 GMT") ~= 784111777 then t:error("rfc850_date") end
  if core.asctime_date("Sun Nov  6 08:49:37 1994") ~= 784111777 then t:error("asctime_date") end
  if core.http_date("garbage") ~= nil then t:error("garbage date") end
end

function TestConcat(t)
  local c = core.concat()
  c:add("a"); c:add("b"); c:add(3)
  if c:dump() ~= "ab3" then t:error("concat", c:dump()) end
  expect_err(t, "'add' needs 2 arguments", c.add, c)
end

function TestTokenize(t)
  local r = core.tokenize("a,b;;c", ",;")
  if #r ~= 4 or r[1] ~= "a" or r[2] ~= "b" or r[3] ~= "" or r[4] ~= "c" then t:error("tokenize") end
  r = core.tokenize(",a,,b,", ",", true)
  if #r ~= 2 or r[1] ~= "a" or r[2] ~= "b" then t:error("tokenize noblank") end
  r = core.tokenize("a,", ",")
  if #r ~= 2 or r[2] ~= "" then t:error("trailing separator") end
end

function TestParseMatchAddr(t)
  local a = core.parse_addr("192.168.1.0/24")
  local b = core.parse_addr("192.168.1.77")
  local c = core.parse_addr("10.0.0.1")
  if not a or not b or not c then t:fatal("parse_addr") end
  if core.parse_addr("nonsense") ~= nil then t:error("bad addr must be nil") end
  if not core.match_addr(a, b) or not core.match_addr(b, a) then t:error("match 192.168.1.0/24") end
  if core.match_addr(a, c) then t:error("must not match 10.0.0.1") end
  local v6 = core.parse_addr("2001:db8::/32")
  if not core.match_addr(v6, core.parse_addr("2001:db8:1::5")) then t:error("v6 match") end
  if core.match_addr(v6, a) then t:error("families differ") end
end

function TestSleepYieldWaitInTask(t)
  local before = core.now()
  core.msleep(20)
  core.sleep(0)
  core.yield()
  core.wait(10)
  local after = core.now()
  local ms = (after.sec - before.sec) * 1000 + (after.usec - before.usec) / 1000
  if ms < 25 then t:error("slept only", ms, "ms") end
  core.set_nice(2000)
  expect_err(t, "'sleep' needs 1 arguments", core.sleep)
end

function TestYieldForbiddenContexts(t)
  local ok, err = t:run_as("sample-fetch", function() core.msleep(1) return "x" end)
  if ok or err ~= "yield not allowed" then t:error("fetch sleep:", ok, err) end
  ok, err = t:run_as("converter", function() core.yield() end)
  if ok or err ~= "yield not allowed" then t:error("converter yield:", ok, err) end
  -- the abort holds even when the script catches the error
  ok, err = t:run_as("sample-fetch", function() pcall(core.sleep, 1) return "caught" end)
  if ok or err ~= "yield not allowed" then t:error("fetch pcall(sleep) must still abort:", ok, err) end
  ok, err = t:run_as("init", function() core.msleep(1) end)
  if ok or err ~= "yield not allowed" then t:error("init:", ok, err) end
  ok, err = t:run_as("body", function() core.msleep(1) end)
  if ok then t:error("body sleep must fail") end
  ok, err = t:run_as("action", function() core.msleep(1) return act.DONE end)
  if not ok or err ~= act.DONE then t:error("action may sleep:", ok, err) end
  ok, err = t:run_as("event", function() core.msleep(1) return 1 end)
  if not ok then t:error("event may sleep:", err) end
end

function TestDoneSemantics(t)
  local ok, v = t:run_as("sample-fetch", function() core.done("early") return "late" end)
  if not ok or v ~= "early" then t:error("fetch done:", ok, v) end
  ok, v = t:run_as("converter", function(x) core.done(x .. "!") error("not reached") end, "in")
  if not ok or v ~= "in!" then t:error("converter done:", ok, v) end
  local after = false
  ok = t:run_as("init", function() core.done() after = true end)
  if not ok or not after then t:error("done in init must be a no-op") end
  ok, v = t:run_as("action", function() core.done() return act.DENY end)
  if not ok or v ~= nil then t:error("action done:", ok, v) end
end

function TestRegisterOutsideBody(t)
  local f = function() end
  expect_err(t, "register_fetches: not available outside of body context", core.register_fetches, "x", f)
  expect_err(t, "register_converters: not available outside of body context", core.register_converters, "x", f)
  expect_err(t, "register_action: not available outside of body context", core.register_action, "x", {"http-req"}, f)
  expect_err(t, "register_service: not available outside of body context", core.register_service, "x", "http", f)
  expect_err(t, "register_cli: not available outside of body context", core.register_cli, {"x"}, "u", f)
  expect_err(t, "register_filter: not available outside of body context", core.register_filter, "x", {}, f)
  expect_err(t, "register_init: not available outside of body context", core.register_init, f)
  expect_err(t, "use_native_mailers_config: not available outside of body context", core.use_native_mailers_config)
  expect_err(t, "disable_legacy_mailers: not available outside of body context", core.disable_legacy_mailers)
  local ok, err = t:run_as("sample-fetch", core.register_fetches, "x", f)
  if ok or not err:find("not available outside of body context") then t:error("fetch register:", err) end
end

function TestRegisterErrorsInBody(t)
  local f = function() end
  local function body(fn, ...) return t:run_as("body", fn, ...) end
  local ok, err = body(core.register_action, "a", {"http-req", "bogus"}, f)
  if ok or not err:find("Lua action environment 'bogus' is unknown. 'tcp-req', 'tcp-res', 'http-req', 'http-res' or 'http-after-res' are expected.", 1, true) then t:error("facility:", err) end
  ok, err = body(core.register_action, "a", "http-req", f)
  if ok or not err:find("register_action: second argument must be a table of strings", 1, true) then t:error("facility type:", err) end
  ok, err = body(core.register_action, "a", {"http-req"})
  if ok or not err:find("'register_action' needs between 3 and 4 arguments", 1, true) then t:error("nargs:", err) end
  ok, err = body(core.register_service, "s", "udp", f)
  if ok or not err:find("Lua service environment 'udp' is unknown. 'tcp' or 'http' are expected.", 1, true) then t:error("service mode:", err) end
  ok, err = body(core.register_cli, {"a", "b", "c", "d", "e", "f"}, "u", f)
  if ok or not err:find("1st argument must be a table with a maximum of 5 entries", 1, true) then t:error("cli words:", err) end
  ok, err = body(core.register_fetches, "x", "notafunction")
  if ok or not err:find("function expected, got string", 1, true) then t:error("function check:", err) end
end

function TestRegisterTask(t)
  local q = core.queue()
  core.register_task(function(a, b, c, d) q:push(a + b + c + d) end, 1, 2, 3, 4)
  local got = q:pop_wait()
  if got ~= 10 then t:error("task args:", got) end
  expect_err(t, "register_task: no more that 4 arguments may be provided", core.register_task, function() end, 1, 2, 3, 4, 5)
  expect_err(t, "function expected", core.register_task, 5)
  -- register_task is allowed from a fetch
  local ok = t:run_as("sample-fetch", function() core.register_task(function() q:push("from fetch") end) end)
  if not ok or q:pop_wait() ~= "from fetch" then t:error("register_task from fetch") end
end

function TestWakeTime(t)
  expect_err(t, "'wake_time' needs 1 arguments", act.wake_time)
  act.wake_time(100)
end

function TestCronRuntimeErrors(t)
  expect_err(t, "register_cron: invalid spec 'not a spec'", core.register_cron, "not a spec", function() end)
end

function TestCoroutinesWithBlockingCalls(t)
  local co = coroutine.wrap(function() core.msleep(5); coroutine.yield(1); core.msleep(5); return 2 end)
  if co() ~= 1 or co() ~= 2 then t:error("coroutine with sleeps") end
  local q = core.queue()
  local c2 = coroutine.create(function() return q:pop_wait() end)
  core.register_task(function() core.msleep(5); q:push("v") end)
  local ok, v = coroutine.resume(c2)
  if not ok or v ~= "v" then t:error("pop_wait inside a coroutine:", ok, v) end
end

-- a coroutine created in one entry and resumed by later ones
local shared_gen = nil

function TestCoroutineAcrossEntries1(t)
  shared_gen = coroutine.wrap(function() local i = 0 while true do i = i + 1; coroutine.yield(i) end end)
  if shared_gen() ~= 1 then t:error("first resume") end
end

function TestCoroutineAcrossEntries2(t)
  if shared_gen() ~= 2 then t:error("resume from another entry") end
  local ok, err = pcall(coroutine.wrap(function() error("inner") end))
  if ok or not tostring(err):find("inner") then t:error("wrap error propagation:", err) end
  local dead = coroutine.wrap(function() return 1 end)
  dead()
  ok, err = pcall(dead)
  if ok then t:error("resuming a dead wrapped coroutine must raise") end
  if coroutine.status(coroutine.create(function() end)) ~= "suspended" then t:error("status") end
end
