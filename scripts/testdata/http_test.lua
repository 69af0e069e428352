-- The HTTP class (txn.http) against a real engine (http_test.cfg).
local h = require("testdata.helpers")

seen = {}

core.register_action("req_edit", {"http-req"}, function(txn)
  local http = txn.http
  local hdrs = http:req_get_headers()
  seen.req_headers = hdrs
  http:req_add_header("x-added", "a1")
  http:req_add_header("x-added", "a2")
  http:req_set_header("x-multi", "only")
  http:req_del_header("x-drop")
  http:req_rep_header("x-rep", "^v(%d+)$", "value-\\1")
  http:req_rep_header("x-rep2", "^v([0-9]+)$", "value-\\1")
  http:req_rep_value("x-list", "^b$", "B")
  local p = txn.f:path()
  if p == "/method" then http:req_set_method("PUT") end
  if p == "/path" then http:req_set_path("/new/path") end
  if p == "/query" then http:req_set_query("a=1&b=2") end
  if p == "/noquery" then http:req_set_query("") end
  if p == "/uri" then http:req_set_uri("/over?x=y") end
  seen.req_side_ok, seen.req_side_err = pcall(function() return http:res_get_headers() end)
  seen.args_ok = pcall(function() http:req_add_header("only-one") end)
end)

core.register_action("res_edit", {"http-res"}, function(txn)
  local http = txn.http
  seen.res_headers = http:res_get_headers()
  http:res_add_header("x-res", "r1")
  http:res_set_header("x-backend", "rewritten")
  http:res_del_header("content-type")
  http:res_rep_value("x-res", "^r(1)$", "R\\1")
  if txn.f:path() == "/status" then http:res_set_status(299) end
  if txn.f:path() == "/reason" then http:res_set_status(418, "Short And Stout") end
  seen.res_side_ok = pcall(function() return http:req_get_headers() end)
end)

core.register_action("wrong_side_req", {"http-req"}, function(txn)
  seen.w1 = pcall(function() txn.http:res_set_status(200) end)
end)
core.register_action("wrong_side_res", {"http-res"}, function(txn)
  seen.w2 = pcall(function() txn.http:req_set_path("/x") end)
end)

function TestHTTPRequestHeaders(t)
  local st, hd, body = h.get(ADDR.fe_http, "/headers?k=v", {
    ["X-Multi"] = "m1", ["X-Drop"] = "d", ["x-rep"] = "v12", ["x-rep2"] = "v7", ["x-list"] = "a, b, c"})
  if st ~= 200 then t:fatal("status", st) end
  local hs = seen.req_headers
  -- 0-based arrays, lowercase names
  if hs["x-multi"][0] ~= "m1" or hs["x-multi"][1] ~= nil then t:error("0-based value", hs["x-multi"][0]) end
  if hs["host"][0] ~= "test" then t:error("host header") end
  if hs["X-Multi"] ~= nil then t:error("names must be lowercase") end
  for _, want in ipairs({"x-added: a1\n", "x-added: a2\n", "x-multi: only\n", "x-rep2: value-7\n", "x-list: a, B, c\n"}) do
    if not body:find(want, 1, true) then t:error("backend did not get", want, body) end
  end
  if body:find("x-drop", 1, true) then t:error("x-drop must be deleted") end
  if seen.req_side_ok then t:error("res_get_headers must raise while the request is processed") end
  if not tostring(seen.req_side_err):find("res_get_headers", 1, true) then t:error("error names the method", seen.req_side_err) end
  if seen.args_ok then t:error("req_add_header with one argument must raise") end
end

function TestHTTPResponse(t)
  local st, hd, body = h.get(ADDR.fe_http, "/status")
  if st ~= 299 then t:error("res_set_status", st) end
  if hd["x-res"][1] ~= "R1" or hd["x-backend"][1] ~= "rewritten" or hd["content-type"] ~= nil then
    t:error("response edits", hd["x-res"][1], hd["x-backend"][1])
  end
  if seen.res_headers["x-backend"][0] ~= "echo" then t:error("res_get_headers", seen.res_headers["x-backend"][0]) end
  if seen.res_side_ok then t:error("req_get_headers must raise while the response is processed") end
  local s = h.connect(ADDR.fe_http)
  s:send(h.raw_request("GET", "/reason", {connection = "close"}))
  local line = s:receive("*l")
  s:close()
  if line ~= "HTTP/1.1 418 Short And Stout" then t:error("reason", line) end
end

function TestHTTPStartLine(t)
  local cases = {
    {"/method", "PUT /method"}, {"/path?x=1", "GET /new/path?x=1"}, {"/query?old=1", "GET /query?a=1&b=2"},
    {"/noquery?old=1", "GET /noquery\n"}, {"/uri?z=1", "GET /over?x=y"},
  }
  for _, c in ipairs(cases) do
    local st, hd, body = h.get(ADDR.fe_http, c[1])
    if body:sub(1, #c[2]) ~= c[2] then t:error(c[1], "->", body:match("^[^\n]*")) end
  end
end

function TestHTTPWrongSide(t)
  h.get(ADDR.fe_dir, "/")
  if seen.w1 ~= false or seen.w2 ~= false then t:error("wrong-side calls must raise", seen.w1, seen.w2) end
end
