-- The StickTable class (Proxy.stktable) against a real engine
-- (sticktable_test.cfg).
local h = require("testdata.helpers")

function TestStickTable(t)
  local st = core.frontends.fe_st.stktable
  if not st then t:fatal("fe_st.stktable missing") end
  if core.backends.be.stktable ~= nil then t:error("a proxy without table has no stktable") end
  local info = st:info()
  if info.type ~= "ip" or info.size ~= 100 or info.expire ~= 60000 or info.used ~= 0 or info.nopurge ~= false then
    t:error("info", info.type, info.size, info.expire, info.used)
  end
  if info.data.http_req_cnt ~= -1 or info.data.conn_cur ~= -1 or info.data.http_req_rate ~= 10000 then
    t:error("info.data", h.keys(info.data))
  end
  if st:lookup("127.0.0.1") ~= nil then t:error("no entry before traffic") end
  for i = 1, 3 do h.get(ADDR.fe_st, "/") end
  -- The tracker of a connection is released once its reply is sent, which
  -- may be after the client has read it.
  h.eventually(function()
    local e = st:lookup("127.0.0.1")
    return e ~= nil and e.conn_cur == 0
  end)
  local e = st:lookup("127.0.0.1")
  if not e then t:fatal("entry after traffic") end
  if e.http_req_cnt ~= 3 or e.http_req_rate ~= 3 or e.conn_cur ~= 0 or type(e.expire) ~= "number" or e.use ~= 0 then
    t:error("entry", e.http_req_cnt, e.http_req_rate, e.conn_cur, e.expire, e.use)
  end
  if st:lookup("not an ip") ~= nil then t:error("bad key must give nil") end
  local all = st:dump()
  if h.keys(all) ~= "127.0.0.1" or all["127.0.0.1"].http_req_cnt ~= 3 then t:error("dump", h.keys(all)) end
  if h.keys(st:dump({{"http_req_cnt", "gt", 5}})) ~= "" then t:error("filter gt 5 must match nothing") end
  if h.keys(st:dump({{"http_req_cnt", "eq", 3}})) ~= "127.0.0.1" then t:error("filter eq 3") end
  if h.keys(st:info()) ~= "data,expire,length,nopurge,size,type,used" then t:error("info keys", h.keys(st:info())) end
  local ok, err = pcall(function() return st:dump({{"http_req_cnt", "bogus", 1}}) end)
  if ok then t:error("bad operator must raise") end
  ok = pcall(function() return st:dump({{"a", "eq", 1}, {"a", "eq", 1}, {"a", "eq", 1}, {"a", "eq", 1}, {"a", "eq", 1}}) end)
  if ok then t:error("more than 4 filters must raise") end
  if st:info().used ~= 1 then t:error("used after traffic") end
end
