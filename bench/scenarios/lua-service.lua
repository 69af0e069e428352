-- A Lua HTTP service answering every request (bench scenario lua-service).
local body = "hello from lua!\n"

core.register_service("hello", "http", function(applet)
  applet:set_status(200)
  applet:add_header("content-type", "text/plain")
  applet:add_header("content-length", string.len(body))
  applet:start_response()
  applet:send(body)
end)
