-- Execution contexts on the request path (contexts_test.cfg): what each
-- context may call, HAProxy's error lines, core.done, and scenarios of
-- HAProxy's Lua reg-tests.
local h = require("testdata.helpers")

seen = {}

core.register_fetches("yield_fetch", function(txn) core.msleep(1); return "never" end)
core.register_converters("yield_conv", function(s) core.sleep(1); return "never" end)

core.register_action("register_late", {"http-req"}, function(txn)
  seen.late_ok, seen.late_err = pcall(core.register_fetches, "late", function() end)
  seen.task_ok = pcall(core.register_task, function() seen.task_ran = true end)
end)

core.register_action("core_done", {"http-req"}, function(txn)
  seen.before_done = true
  core.done()
  seen.after_done = true
end)
core.register_fetches("done_fetch", function(txn) core.done("from-done"); return "not this" end)

-- reg-test wrong_types_usage: a converter called with extra, oddly typed
-- arguments must not break the request.
core.register_action("wrong_types", {"http-req"}, function(txn)
  seen.wt = txn.sc:ipmask(txn.f:src(), 24, 112)
end)

core.register_action("sleeper", {"http-req"}, function(txn)
  local t0 = core.now()
  core.msleep(50)
  local t1 = core.now()
  seen.slept_ms = (t1.sec - t0.sec) * 1000 + (t1.usec - t0.usec) / 1000
end)

-- reg-test httpclient_action: an httpclient call from an action that does
-- not complete in time leaves status 0; the next rule answers.
core.register_action("hc_timeout", {"http-req"}, function(txn)
  local r = core.httpclient():get{url = "http://" .. BACKEND .. "/", timeout = 1, dst = "127.0.0.1:1"}
  txn:set_var("txn.hc_status", r.status)
end)

core.register_action("after_sleep", {"http-after-res"}, function(txn)
  core.msleep(1)
  seen.after_slept = true
end)

function TestYieldInFetchAndConverter(t)
  local st, hd, body = h.get(ADDR.fe, "/yf")
  if st ~= 200 or body:find("x-yf: never", 1, true) then t:error("yielding fetch must give no sample", st, body) end
  h.get(ADDR.fe, "/yc")
  local logs = t:logs()
  if not h.has(logs, "Lua sample-fetch 'yield_fetch': yield not allowed.") then t:error("fetch line", table.concat(logs, "\n")) end
  if not h.has(logs, "Lua converter 'yield_conv': yield functions like core.tcp() or core.sleep() are not allowed.") then
    t:error("converter line")
  end
end

function TestRegisterOutsideBody(t)
  h.get(ADDR.fe, "/late")
  if seen.late_ok or not tostring(seen.late_err):find("register_fetches: not available outside of body context", 1, true) then
    t:error("register_fetches at runtime", seen.late_err)
  end
  if not seen.task_ok then t:error("register_task is allowed in actions") end
  for i = 1, 100 do
    if seen.task_ran then break end
    core.msleep(5)
  end
  if not seen.task_ran then t:error("the task started from an action did not run") end
end

function TestCoreDone(t)
  local st, hd, body = h.get(ADDR.fe, "/done")
  if st ~= 200 or not seen.before_done or seen.after_done then t:error("core.done in an action stops it and continues the rules", st) end
  if not body:find("x-done: from-done", 1, true) then t:error("core.done value in a fetch", body) end
end

function TestWrongTypesUsage(t)
  local st = h.get(ADDR.fe, "/types")
  if st ~= 200 then t:error("status", st) end
end

function TestActionMayBlock(t)
  local st = h.get(ADDR.fe, "/sleep")
  if st ~= 200 or not seen.slept_ms or seen.slept_ms < 40 then t:error("core.msleep in an action", st, seen.slept_ms) end
end

function TestHTTPClientActionTimeout(t)
  local st = h.get(ADDR.fe, "/hc")
  if st ~= 503 then t:error("the next rule must answer 503", st) end
end

function TestAfterResponseCannotYield(t)
  local st = h.get(ADDR.fe, "/after")
  if st ~= 200 then t:error("status", st) end
  if seen.after_slept then t:error("a yield in http-after-response must abort the action") end
  if not h.has(t:logs(), "Lua function 'after_sleep': yield not allowed.") then t:error("after-response line", table.concat(t:logs(), "\n")) end
end
