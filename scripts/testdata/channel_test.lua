-- The Channel class (txn.req / txn.res) against a real engine
-- (channel_test.cfg): TCP streams, and HTTP where only lengths work.
local h = require("testdata.helpers")

seen = {}

core.register_action("chan_ops", {"tcp-req"}, function(txn)
  local req, res = txn.req, txn.res
  local r = {}
  r.data = req:data()
  r.line = req:line()
  r.part = req:data(2, 3)
  r.neg = req:data(-3)
  r.out_of_range = req:data(50)
  r.input, r.output = req:input(), req:output()
  r.set = req:set("AB", 0, 2)
  r.insert = req:insert("ins", 3)
  r.append = req:append("<end>")
  r.prepend = req:prepend("<start>")
  r.remove = req:remove(0, 7)
  r.forward = req:forward(2)
  r.send = req:send("S")
  r.input2, r.output2 = req:input(), req:output()
  r.after = req:data()
  r.req_resp, r.res_resp = req:is_resp(), res:is_resp()
  r.may_recv, r.full = req:may_recv(), req:is_full()
  r.res_data = res:data()
  r.res_set = res:set("x")
  r.res_send = res:send("early\n")
  r.in_len, r.out_len = req:get_in_len(), req:get_out_len()
  seen.ops = r
end)

-- The deprecated calls: dup() copies, get()/getline() also remove.
core.register_action("chan_old", {"tcp-req"}, function(txn)
  local req = txn.req
  local r = {}
  r.dup = req:dup()
  r.getline = req:getline()
  r.after_getline = req:dup()
  r.get = req:get()
  r.input = req:input()
  r.append = req:append("new")
  seen.old = r
end)

core.register_service("tcp_dump", "tcp", function(applet)
  local d = applet:try_receive() or ""
  applet:send("dump:" .. d:gsub("\n", "|") .. "\n")
end)

core.register_action("chan_rewrite", {"tcp-req"}, function(txn)
  local first = txn.req:line()
  local n = txn.req:set("GET /rewritten HTTP/1.1\r\n", 0, #first)
  seen.rewrite = {first = first, n = n}
end)

core.register_action("chan_res", {"tcp-res"}, function(txn)
  local r = {}
  r.line = txn.res:line()
  r.input = txn.res:input()
  r.set = txn.res:set("x")
  r.is_resp = txn.res:is_resp()
  seen.res = r
end)

core.register_action("chan_http", {"http-req"}, function(txn)
  local r = {}
  r.input_type = type(txn.req:input())
  r.output = txn.req:output()
  r.is_resp = txn.req:is_resp()
  r.data_ok, r.data_err = pcall(function() return txn.req:data() end)
  r.send_ok = pcall(function() return txn.res:send("x") end)
  seen.http = r
end)

function TestChannelOperations(t)
  local s = h.connect(ADDR.fe_ops)
  s:send("01234\n56789")
  local early = s:receive("*l")
  local dump = s:receive("*l")
  s:close()
  local r = seen.ops
  if not r then t:fatal("chan_ops did not run", table.concat(t:logs(), "\n")) end
  if r.data ~= "01234\n56789" or r.line ~= "01234\n" then t:error("data/line", r.data, r.line) end
  if r.part ~= "234" or r.neg ~= "789" or r.out_of_range ~= nil then t:error("offsets", r.part, r.neg, r.out_of_range) end
  if r.input ~= 11 or r.output ~= 0 then t:error("lengths", r.input, r.output) end
  if r.set ~= 2 or r.insert ~= 3 or r.append ~= 5 or r.prepend ~= 7 or r.remove ~= 7 then
    t:error("edit results", r.set, r.insert, r.append, r.prepend, r.remove)
  end
  if r.forward ~= 2 or r.send ~= 1 or r.output2 ~= 3 or r.input2 ~= 17 then t:error("forward/send", r.forward, r.send, r.output2, r.input2) end
  if r.after ~= "2ins34\n56789<end>" then t:error("input after edits", r.after) end
  if r.req_resp ~= false or r.res_resp ~= true or r.may_recv ~= true or r.full ~= false then t:error("flags") end
  if r.res_data ~= nil or r.res_set ~= -1 or r.res_send ~= 6 then t:error("response side", r.res_data, r.res_set, r.res_send) end
  if r.in_len ~= 17 or r.out_len ~= 3 then t:error("deprecated lengths", r.in_len, r.out_len) end
  if early ~= "early" then t:error("res:send must reach the client first", early) end
  if dump ~= "dump:ABS2ins34|56789<end>" then t:error("what the service read", dump) end
end

function TestChannelRewriteToServer(t)
  local s = h.connect(ADDR.fe_rewrite)
  s:send("GET /orig HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
  local st, hd, body = h.read_response(s)
  s:close()
  if seen.rewrite.first ~= "GET /orig HTTP/1.1\r\n" or seen.rewrite.n ~= 25 then t:error("line/set", seen.rewrite.first, seen.rewrite.n) end
  if st ~= 200 or body:sub(1, 15) ~= "GET /rewritten\n" then t:error("server saw", st, body) end
end

function TestChannelHTTPMode(t)
  h.get(ADDR.fe_httpchan, "/")
  local r = seen.http
  if r.input_type ~= "number" or r.output ~= 0 or r.is_resp ~= false then t:error("read-only calls", r.input_type, r.output) end
  if r.data_ok or not tostring(r.data_err):find("Cannot manipulate HAProxy channels in HTTP mode.", 1, true) then t:error("data in HTTP mode", r.data_err) end
  if r.send_ok then t:error("send in HTTP mode must raise") end
end

function TestChannelDeprecated(t)
  local s = h.connect(ADDR.fe_old)
  s:send("abc\ndef")
  local dump = s:receive("*l")
  s:close()
  local r = seen.old
  if r.dup ~= "abc\ndef" or r.getline ~= "abc\n" or r.after_getline ~= "def" or r.get ~= "def" or r.input ~= 0 then
    t:error("dup/getline/get", r.dup, r.getline, r.after_getline, r.get, r.input)
  end
  if r.append ~= 3 or dump ~= "dump:new" then t:error("what remains", r.append, dump) end
end

function TestChannelResponseInTCPResponse(t)
  local s = h.connect(ADDR.fe_res)
  s:send("GET /r HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
  local st, hd, body = h.read_response(s)
  s:close()
  if st ~= 200 or body:sub(1, 7) ~= "GET /r\n" then t:error("response", st, body) end
  local r = seen.res
  if not r then t:fatal("tcp-response action did not run") end
  if r.line ~= "HTTP/1.1 200 OK\r\n" or r.input < 20 or r.set ~= -1 or r.is_resp ~= true then
    t:error("response channel", r.line, r.input, r.set, r.is_resp)
  end
end
