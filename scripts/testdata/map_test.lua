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

function TestPatref(t)
  local ok, err = pcall(core.get_patref, "nope.map")
  if ok or not tostring(err):find("unknown pattern reference 'nope.map'", 1, true) then t:error("unknown patref", err) end
  local ref = core.get_patref("testdata/lua_test.map")
  if ref:get_name() ~= "testdata/lua_test.map" or not ref:is_map() then t:error("name/is_map") end
  if core.get_patref("testdata/lua_users.acl"):is_map() then t:error("an ACL file is not a map") end
  if ref.add ~= ref.add or ref["k2"] ~= "v2" or ref["nope"] ~= nil then t:error("index", ref["k2"]) end
  if ref:add("k9", "v9") ~= true or ref["k9"] ~= "v9" then t:error("add") end
  if ref:set("k9", "nine") ~= true or ref["k9"] ~= "nine" then t:error("set") end
  if ref:set("k10", "ten") ~= false or ref:set("k10", "ten", true) ~= true or ref["k10"] ~= "ten" then t:error("set force") end
  if ref:del("k10") ~= true or ref:del("k10") ~= false then t:error("del") end
  local st, hd, body = h.get(ADDR.fe_map, "/", {["x-key"] = "k9"})
  if not body:find("x-map: nine", 1, true) then t:error("map converter sees Patref edits", body) end
  -- A prepared version replaces the contents at commit time only.
  ref:prepare()
  ref:add_bulk({a = "1", b = "2"})
  ref:add("c", "3")
  ref:del("b")
  if ref["a"] ~= nil then t:error("prepared entries are not visible before commit") end
  local ok2, err2 = ref:commit()
  if ok2 ~= true or ref["a"] ~= "1" or ref["c"] ~= "3" or ref["b"] ~= nil or ref["k9"] ~= nil then t:error("commit", err2) end
  local keys = {}
  for k, v in pairs(ref) do keys[#keys + 1] = k .. "=" .. v end
  table.sort(keys)
  if table.concat(keys, ",") ~= "a=1,c=3" then t:error("pairs", table.concat(keys, ",")) end
  ref:prepare(); ref:add("x", "y"); ref:giveup()
  if ref["x"] ~= nil then t:error("giveup") end
  local n, e = ref:commit()
  if n ~= nil or e == nil then t:error("commit without prepare") end
  local acl = core.get_patref("testdata/lua_users.acl")
  acl:add_bulk({"eve", "trudy"})
  if acl["eve"] ~= "eve" then t:error("acl add_bulk") end
  if h.get(ADDR.fe_map, "/", {["x-user"] = "trudy"}) ~= 403 then t:error("ACL sees add_bulk") end
  acl:purge()
  if h.get(ADDR.fe_map, "/", {["x-user"] = "mallory"}) ~= 200 then t:error("purge") end
end
