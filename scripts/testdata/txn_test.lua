-- TXN, Fetches and Converters against a real engine (txn_test.cfg).
local h = require("testdata.helpers")

seen = {}

core.register_action("inspect", {"http-req"}, function(txn)
  local r = {}
  r.src = txn.f:src()
  r.sf_src = txn.sf:src()
  r.method = txn.f:method()
  r.path = txn.f:path()
  r.hdr = txn.f:req_hdr("x-test")
  r.hdr2 = txn.f:hdr("x-test", 1)
  r.missing_f = txn.f:req_hdr("x-none")
  r.missing_sf = txn.sf:req_hdr("x-none")
  r.fe = txn.f:fe_name()
  r.true_f = txn.f:always_true()
  r.true_sf = txn.sf:always_true()
  r.int_f = txn.f:int(42)
  r.lower = txn.c:lower("MiXeD")
  r.len_c = txn.c:length("abcd")
  r.len_sc = txn.sc:length("abcd")
  r.ipmask = txn.sc:ipmask(txn.f:src(), 24)
  r.nested = txn.sc:concat("x", "<", "txn.from_cfg", ">")
  r.unknown = txn.f.no_such_fetch
  r.lua_fetch_method = txn.f.lua_fetch_var
  r.bad_arg_ok, r.bad_arg = pcall(function() return txn.f:req_hdr({}) end)
  r.bad_kw_ok, r.bad_kw = pcall(function() return txn.c:ipmask("1.2.3.4", 24, 112, 9) end)
  r.http_type = type(txn.http)
  r.req_type, r.res_type = tostring(txn.req), tostring(txn.res)
  r.from_cfg = txn:get_var("txn.from_cfg")
  r.set1 = txn:set_var("txn.lua_set", "from-lua")
  r.set_bad = txn:set_var("nope.x", 1)
  r.set_int = txn:set_var("req.n", 42)
  r.get_int = txn:get_var("req.n")
  r.set_bool = txn:set_var("txn.b", true)
  r.get_bool = txn:get_var("txn.b")
  r.set_tbl = txn:set_var("txn.t", {})
  r.get_tbl = txn:get_var("txn.t")
  r.unset = txn:unset_var("req.n")
  r.after_unset = txn:get_var("req.n")
  r.unknown_var = txn:get_var("txn.never_set")
  r.ifexist_unknown = txn:set_var("proc.lua_unknown_x", 1, true)
  r.ifexist_known = txn:set_var("proc.known", 8, true)
  r.proc = core.get_var("proc.known")
  r.ifexist_txn = txn:set_var("txn.never_seen", 1, true)
  r.set_var_args_ok, r.set_var_args = pcall(function() return txn:set_var("txn.x") end)
  r.priv_before = txn:get_priv()
  txn:set_priv({count = 1})
  r.priv_after = txn:get_priv().count
  txn:set_loglevel(core.info)
  r.loglevel_ok, r.loglevel_err = pcall(function() txn:set_loglevel(9) end)
  txn:set_priority_class(5000)
  txn:set_priority_offset(-1)
  txn:set_fc_tos(16)
  txn:set_fc_mark(1)
  txn:set_tos(0)
  txn:set_mark(0)
  r.http_req, r.http_res = txn.http_req, txn.http_res
  seen.inspect = r
end)

core.register_action("args", {"http-req"}, function(txn, a, b, c)
  seen.args = {a, b, c}
end, 2)

core.register_action("act_err", {"http-req"}, function(txn)
  error("action failed on purpose")
end)

core.register_fetches("fetch_var", function(txn, name) return txn:get_var(name) end)
core.register_fetches("fetch_done", function(txn) txn:done("early"); return "late" end)
core.register_fetches("fetch_err", function(txn) error("boom") end)
core.register_fetches("fetch_nil", function(txn) return nil end)
core.register_fetches("fetch_none", function(txn) end)
core.register_converters("shout", function(s, suffix) return s:upper() .. suffix end)

core.register_action("res_priv", {"http-res"}, function(txn)
  local n = (txn:get_priv() or 0) + 1
  txn:set_priv(n)
  txn.http:res_set_status(200 + n)
end)

core.register_action("done_reply", {"http-req"}, function(txn)
  local r = txn:reply({status = 403, headers = {["x-init"] = {"i"}}, body = "first"})
  r:set_status(418, "I'm a teapot")
  r:add_header("x-custom", "a")
  r:add_header("X-Custom", "b")
  r:add_header("x-gone", "g")
  r:del_header("X-Gone")
  r:set_body("denied by lua")
  txn:done(r)
  seen.after_done = true
end)

core.register_action("done_plain", {"http-req"}, function(txn) txn:done() end)

core.register_action("code", {"http-req"}, function(txn)
  local codes = {deny = act.DENY, invalid = act.INVALID, error = act.ERROR, abort = act.ABORT,
                 stop = act.STOP, done = act.DONE, cont = act.CONTINUE, str = "nope"}
  return codes[txn.f:path():sub(7)]
end)

core.register_action("yielder", {"http-req"}, function(txn)
  seen.yields = (seen.yields or 0) + 1
  if seen.yields < 3 then
    act.wake_time(5)
    return act.YIELD
  end
  txn.http:req_set_header("x-yields", tostring(seen.yields))
  return act.CONTINUE
end)

core.register_action("stash", {"http-req"}, function(txn) stashed = txn end)

core.register_action("logs", {"http-req"}, function(txn)
  txn:log(core.warning, "txn log warning")
  txn:Debug("txn debug")
  txn:Info("txn info")
  txn:Warning("txn warning")
  txn:Alert("txn alert")
  txn:deflog("txn deflog")
  core.log(core.notice, "core log notice")
  seen.log_bad_ok = pcall(function() txn:log(12, "x") end)
end)

function TestTxnFetchesConvertersVars(t)
  local st, hd, body = h.get(ADDR.fe_txn, "/p?q=1", {["x-test"] = "v1"})
  if st ~= 200 then t:fatal("status", st, body) end
  local r = seen.inspect
  if not r then t:fatal("inspect did not run:", table.concat(t:logs(), "\n")) end
  if r.src ~= "127.0.0.1" or r.sf_src ~= "127.0.0.1" then t:error("src", r.src, r.sf_src) end
  if r.method ~= "GET" or r.path ~= "/p" or r.fe ~= "fe_txn" then t:error("method/path/fe", r.method, r.path, r.fe) end
  if r.hdr ~= "v1" or r.hdr2 ~= "v1" then t:error("req_hdr", r.hdr, r.hdr2) end
  if r.missing_f ~= nil or r.missing_sf ~= "" then t:error("missing fetch: nil for f, \"\" for sf", r.missing_f, r.missing_sf) end
  if r.true_f ~= true or r.true_sf ~= "1" then t:error("bool sample", r.true_f, r.true_sf) end
  if r.int_f ~= 42 or math.type(r.int_f) ~= "integer" then t:error("int", r.int_f) end
  if r.lower ~= "mixed" or r.len_c ~= 4 or r.len_sc ~= "4" then t:error("converters", r.lower, r.len_c, r.len_sc) end
  if r.ipmask ~= "127.0.0.0" then t:error("ipmask", r.ipmask) end
  if r.nested ~= "x<cfgval>" then t:error("concat with variable", r.nested) end
  if r.unknown ~= nil or r.lua_fetch_method ~= nil then t:error("unknown / Lua fetch methods must be nil") end
  if r.bad_arg_ok or r.bad_kw_ok then t:error("bad arguments must raise", r.bad_arg, r.bad_kw) end
  if not tostring(r.bad_kw):find("ipmask", 1, true) then t:error("error names the converter", r.bad_kw) end
  if r.http_type ~= "userdata" or r.req_type ~= "Channel" or r.res_type ~= "Channel" then t:error("attributes", r.http_type, r.req_type) end
  if r.http_req ~= nil or r.http_res ~= nil then t:error("http_req/http_res exist only in filters") end
  if r.from_cfg ~= "cfgval" then t:error("get_var from config", r.from_cfg) end
  if r.set1 ~= true or r.set_bad ~= false then t:error("set_var results", r.set1, r.set_bad) end
  if r.set_int ~= true or r.get_int ~= 42 then t:error("int var", r.get_int) end
  if r.set_bool ~= true or r.get_bool ~= true then t:error("bool var", r.get_bool) end
  if r.set_tbl ~= true or r.get_tbl ~= false then t:error("a table is stored as boolean false", r.get_tbl) end
  if r.unset ~= true or r.after_unset ~= nil or r.unknown_var ~= nil then t:error("unset_var") end
  if r.ifexist_unknown ~= false or r.ifexist_known ~= true or r.proc ~= 8 then
    t:error("ifexist on proc vars", r.ifexist_unknown, r.ifexist_known, r.proc)
  end
  if r.ifexist_txn ~= true then t:error("ifexist always sets txn vars") end
  if r.set_var_args_ok or not tostring(r.set_var_args):find("'set_var' needs between 3 and 4 arguments", 1, true) then
    t:error("set_var argument count", r.set_var_args)
  end
  if r.priv_before ~= nil or r.priv_after ~= 1 then t:error("priv", r.priv_before, r.priv_after) end
  if r.loglevel_ok then t:error("set_loglevel(9) must raise") end
  if seen.args[1] ~= "one" or seen.args[2] ~= "two" or seen.args[3] ~= nil then t:error("action args", seen.args[1], seen.args[2]) end
  -- What the backend received: headers set from Lua fetches and converters.
  for _, want in ipairs({"x-lua-fetch: from-lua", "x-conv: hello!", "x-done: early", "x-nil: 0", "x-acl: yes"}) do
    if not body:find(want, 1, true) then t:error("backend did not get", want, body) end
  end
  -- A failing fetch and a fetch returning nothing give no sample ("-" in a log-format).
  if not body:find("x-err: -\n", 1, true) or not body:find("x-none: -\n", 1, true) then t:error("failed fetches", body) end
  local logs = t:logs()
  if not h.has(logs, "Lua function 'act_err': [state-id 0] runtime error: ") or not h.has(logs, "action failed on purpose") then
    t:error("action error line", table.concat(logs, "\n"))
  end
  if not h.has(logs, "Lua sample-fetch 'fetch_err': [state-id 0] runtime error: ") then t:error("fetch error line") end
end

function TestTxnPrivNotKeptAcrossTransactions(t)
  -- reg-test h_txn_get_priv: two requests on one connection both get 201.
  local s = h.connect(ADDR.fe_priv)
  for i = 1, 2 do
    s:send(h.raw_request("GET", "/" .. i))
    local st = h.read_response(s)
    if st ~= 201 then t:error("request", i, "status", st) end
  end
  s:close()
end

function TestTxnDoneAndActionCodes(t)
  local st, hd, body = h.get(ADDR.fe_codes, "/reply")
  if st ~= 418 or body ~= "denied by lua" then t:error("reply", st, body) end
  if #hd["x-custom"] ~= 2 or hd["x-custom"][1] ~= "a" or hd["x-custom"][2] ~= "b" then t:error("reply headers") end
  if hd["x-init"][1] ~= "i" or hd["x-gone"] ~= nil then t:error("init/deleted headers") end
  if seen.after_done then t:error("txn:done must stop the action") end
  st = h.get(ADDR.fe_codes, "/plain")
  if st ~= nil then t:error("txn:done() without reply must close without a response", st) end
  local want = {deny = 403, invalid = 400, error = 500, cont = 200, str = 200, stop = 200}
  for name, code in pairs(want) do
    local got = h.get(ADDR.fe_codes, "/code/" .. name)
    if got ~= code then t:error("act." .. name, got, "want", code) end
  end
  if h.get(ADDR.fe_codes, "/code/abort") ~= nil then t:error("act.ABORT must close") end
end

function TestTxnYield(t)
  seen.yields = 0
  local st, hd, body = h.get(ADDR.fe_codes, "/yield")
  if st ~= 200 or seen.yields ~= 3 or not body:find("x-yields: 3", 1, true) then t:error("act.YIELD re-runs", st, seen.yields, body) end
end

function TestTxnObjectInvalidAfterCall(t)
  h.get(ADDR.fe_codes, "/stash")
  local ok, err = pcall(function() return stashed:get_var("txn.x") end)
  if ok or not tostring(err):find("transaction is over", 1, true) then t:error("stale TXN", err) end
  if stashed.f ~= nil then t:error("stale attributes must be nil") end
end

function TestTxnLogs(t)
  h.get(ADDR.fe_codes, "/logs")
  local logs = t:logs()
  for _, want in ipairs({"4 txn log warning", "7 txn debug", "6 txn info", "4 txn warning", "1 txn alert", "6 txn deflog", "5 core log notice"}) do
    if not h.has(logs, want) then t:error("missing log", want) end
  end
  if seen.log_bad_ok then t:error("txn:log(12) must raise") end
end
