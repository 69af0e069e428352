-- Lower a server's weight as soon as its health checks start failing,
-- before the server is marked DOWN ("preemptively adjust the server weight
-- when checks start failing", from the event framework article): every
-- checked server follows its own SERVER_CHECK events, and while it is UP its
-- weight follows the check health,
--   initial weight * (cur - rise + 1) / fall   (at least 1),
-- so it gets its full weight back once the checks are all good again.

local initial = {} -- "backend/server" -> weight at start

local function id(srv)
  return srv:get_proxy():get_name() .. "/" .. srv:get_name()
end

local function on_check(event, data)
  local srv = data.reference
  if srv == nil then
    return -- deleted meanwhile
  end
  local w0 = initial[id(srv)]
  local h = data.check.health
  if w0 == nil or h.cur < h.rise then
    return -- DOWN: the load balancer does not use it anyway
  end
  local w = math.floor(w0 * (h.cur - h.rise + 1) / h.fall)
  if w < 1 then
    w = 1
  end
  local cur = srv:get_weight()
  if w == cur then
    return
  end
  local err = srv:set_weight(tostring(w))
  if err ~= nil then
    core.Warning("check_weight: " .. id(srv) .. ": " .. err)
    return
  end
  core.Info(string.format("check_weight: %s weight %d -> %d (check health %d, rise %d, fall %d)",
    id(srv), cur, w, h.cur, h.rise, h.fall))
end

core.register_init(function()
  for _, be in pairs(core.backends) do
    for _, srv in pairs(be.servers) do
      if srv:get_stats().check_status ~= nil then -- checked servers only
        initial[id(srv)] = srv:get_weight()
        srv:event_sub({ "SERVER_CHECK" }, on_check)
      end
    end
  end
end)
