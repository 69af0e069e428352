-- Lua for the quick start (deploy/quickstart.cfg): a service answering
-- /hello, and an action stamping every response with the request count of
-- this Lua state and the backend server that answered.

local served = 0

core.register_service("hello", "http", function(applet)
  local name = applet.qs:match("name=([^&]+)") or "world"
  local body = string.format("Hello %s, from Lua on Moonbus!\n", name)
  applet:set_status(200)
  applet:add_header("content-type", "text/plain")
  applet:add_header("content-length", #body)
  applet:start_response()
  applet:send(body)
end)

core.register_action("stamp", {"http-res"}, function(txn)
  served = served + 1
  txn.http:res_set_header("x-lua-count", tostring(served))
  txn.http:res_set_header("x-lua-server", txn.f:srv_name() or "-")
end)
