-- The IP Checker service of the article, as a Lua HTTP service instead of
-- the Python/Flask one: GET /<address> answers "allow" or "deny" at random.
local function check(applet)
  local verdict = 'deny'
  if math.random(0, 1) > 0 then verdict = 'allow' end
  applet:set_status(200)
  applet:add_header('content-length', string.len(verdict))
  applet:add_header('content-type', 'text/plain')
  applet:start_response()
  applet:send(verdict)
end

core.register_service('ipchecker', 'http', check)
