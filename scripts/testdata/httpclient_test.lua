-- HTTPClient class against httptest servers (see lua_test.go).

local TCP, HTTP, UNIX, REFUSED = ...

function TestGetHeadersZeroBased(t)
  local hc = core.httpclient()
  local res = hc:get{url = HTTP .. "/echo", headers = {["X-Custom"] = {"one", "two"}, ["Host"] = {"example.test"}}}
  if res.status ~= 201 or res.reason ~= "Created" then t:error("status/reason", res.status, res.reason) end
  local multi = res.headers["x-multi"]
  if not multi or multi[0] ~= "a" or multi[1] ~= "b" or multi[2] ~= nil then t:error("0-based header list") end
  if res.headers["x-method"][0] ~= "GET" then t:error("method") end
  if res.headers["x-host"][0] ~= "example.test" then t:error("Host header", res.headers["x-host"][0]) end
  if res.headers["x-custom-in"][0] ~= "one,two" then t:error("header list values", res.headers["x-custom-in"][0]) end
  if res.headers["x-accept-encoding"][0] ~= "" then t:error("no Accept-Encoding may be sent") end
  if res.body ~= "" then t:error("empty body") end
end

function TestLargeBodiesBothWays(t)
  local hc = core.httpclient()
  local big = string.rep("abcdefghij", 5000) -- ~50 KB
  local res = hc:post{url = HTTP .. "/echo", body = big}
  if res.status ~= 201 or res.body ~= big then t:error("POST echo of", #big, "bytes, got", #res.body) end
  local r2 = hc:get{url = HTTP .. "/big"}
  if r2.status ~= 200 or #r2.body ~= 54000 then t:error("54000-byte body, got", #r2.body) end
  local r3 = hc:put{url = HTTP .. "/echo", body = r2.body}
  if r3.body ~= r2.body or r3.headers["x-method"][0] ~= "PUT" then t:error("re-PUT") end
  local r4 = hc:head{url = HTTP .. "/echo"}
  if r4.status ~= 201 or r4.body ~= "" then t:error("HEAD") end
  local r5 = hc:delete{url = HTTP .. "/echo"}
  if r5.headers["x-method"][0] ~= "DELETE" then t:error("DELETE") end
end

function TestFailureGivesStatusZero(t)
  local res = core.httpclient():get{url = "http://" .. REFUSED .. "/"}
  if res.status ~= 0 then t:error("connection refused must give status 0, got", res.status) end
  local r2 = core.httpclient():get{url = HTTP .. "/slow", timeout = 50}
  if r2.status ~= 0 then t:error("timeout must give status 0, got", r2.status) end
end

function TestDstUnix(t)
  local res = core.httpclient():get{url = "http://anything.test/", dst = "unix@" .. UNIX, headers = {host = {"unix.test"}}}
  if res.status ~= 200 or res.body ~= "unix ok host=unix.test" then t:error("dst unix@:", res.status, res.body) end
  local hostport = HTTP:match("^http://(.+)$")
  local r2 = core.httpclient():get{url = "http://elsewhere.invalid/echo", dst = "ipv4@" .. hostport}
  if r2.status ~= 201 then t:error("dst ipv4@:", r2.status) end
end

function TestArgumentErrors(t)
  local hc = core.httpclient()
  local ok, err = pcall(hc.get, hc, "http://x")
  if ok or not tostring(err):find("'get' needs a table as argument", 1, true) then t:error("non-table:", err) end
  ok, err = pcall(hc.get, hc, {url = HTTP, bogus = 1})
  if ok or not tostring(err):find("'bogus' invalid parameter name", 1, true) then t:error("bad key:", err) end
  ok, err = pcall(hc.post, hc)
  if ok or not tostring(err):find("'post' needs a table as argument", 1, true) then t:error("no arg:", err) end
  local ok2, e2 = t:run_as("body", function() return core.httpclient():get{url = HTTP} end)
  if ok2 or not tostring(e2):find("The 'get' function is only allowed in 'frontend', 'backend' or 'task'", 1, true) then t:error("body:", e2) end
  ok2, e2 = t:run_as("sample-fetch", function() return core.httpclient():get{url = HTTP} end)
  if ok2 or e2 ~= "yield not allowed" then t:error("fetch:", e2) end
end
