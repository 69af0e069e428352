-- The Map class and core.add_acl/del_acl/set_map/del_map against a real
-- engine (map_test.cfg).
local h = require("testdata.helpers")

-- Opened while the file loads (before the engine exists).
local body_map = Map.new("testdata/lua_test.map", Map._str)
body_lookup = body_map:lookup("k1")
body_err_ok, body_err = pcall(Map.new, "testdata/no_such.map", Map._str)
body_set_ok, body_set_err = pcall(core.set_map, "testdata/lua_test.map", "k", "v")

function TestMapLookup(t)
  if body_lookup ~= "v1" then t:error("lookup at load time", body_lookup) end
  if body_err_ok or not tostring(body_err):find("no_such.map", 1, true) then t:error("unknown file", body_err) end
  local m = Map.new("testdata/lua_test.map", Map.str)
  if m:lookup("k2") ~= "v2" or m:lookup("nope") ~= nil or m:slookup("nope") ~= "" then t:error("lookup/slookup") end
  local ip = Map.new("testdata/lua_ip.map", Map._ip)
  if ip:lookup("10.1.2.3") ~= "private" or ip:lookup("192.168.1.1") ~= "home" or ip:lookup("8.8.8.8") ~= nil then
    t:error("ip map", ip:lookup("10.1.2.3"))
  end
  local beg = Map.new("testdata/lua_test.map", Map._beg)
  if beg:lookup("k2-and-more") ~= "v2" then t:error("beg map", beg:lookup("k2-and-more")) end
  if type(Map._int) ~= "number" or Map._str == Map._beg then t:error("method constants") end
  if not tostring(m):find("Map: testdata/lua_test.map", 1, true) then t:error("tostring", tostring(m)) end
end

function TestCoreSetMapSharedWithConfig(t)
  if body_set_ok then t:error("set_map before the engine runs must raise") end
  local st, hd, body = h.get(ADDR.fe_map, "/", {["x-key"] = "k3"})
  if not body:find("x-map: none", 1, true) then t:error("k3 not in the map yet", body) end
  core.set_map("testdata/lua_test.map", "k3", "v3")
  core.set_map("testdata/lua_test.map", "k1", "one")
  st, hd, body = h.get(ADDR.fe_map, "/", {["x-key"] = "k3"})
  if not body:find("x-map: v3", 1, true) then t:error("map converter must see set_map", body) end
  -- The Map opened at load time now reads the configuration's copy.
  if body_map:lookup("k3") ~= "v3" or body_map:lookup("k1") ~= "one" then t:error("shared map", body_map:lookup("k3")) end
  core.del_map("testdata/lua_test.map", "k3")
  if body_map:lookup("k3") ~= nil then t:error("del_map") end
  local ok, err = pcall(core.set_map, "nope.map", "a", "b")
  if ok or not tostring(err):find("'set_map': unknown map file 'nope.map'", 1, true) then t:error("unknown map", err) end
end

function TestCoreACLEdits(t)
  if h.get(ADDR.fe_map, "/", {["x-user"] = "mallory"}) ~= 403 then t:error("mallory must be denied") end
  if h.get(ADDR.fe_map, "/", {["x-user"] = "eve"}) ~= 200 then t:error("eve allowed at first") end
  core.add_acl("testdata/lua_users.acl", "eve")
  if h.get(ADDR.fe_map, "/", {["x-user"] = "eve"}) ~= 403 then t:error("add_acl") end
  core.del_acl("testdata/lua_users.acl", "eve")
  if h.get(ADDR.fe_map, "/", {["x-user"] = "eve"}) ~= 200 then t:error("del_acl") end
  local ok, err = pcall(core.add_acl, "nope.acl", "x")
  if ok or not tostring(err):find("'add_acl': unknown acl file 'nope.acl'", 1, true) then t:error("unknown acl", err) end
end
