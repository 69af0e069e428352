-- Proxy, Server and Listener classes, core.proxies/frontends/backends.

local function keys(set)
  local names = {}
  for name, obj in pairs(set) do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, ",")
end

function TestProxyTables(t)
  if keys(core.proxies) ~= "app,dup,fe_main,www_dc1,www_dc2" then t:error("proxies:", keys(core.proxies)) end
  if keys(core.frontends) ~= "app,dup,fe_main" then t:error("frontends:", keys(core.frontends)) end
  if keys(core.backends) ~= "app,dup,www_dc1,www_dc2" then t:error("backends:", keys(core.backends)) end
  if core.backends.dup:get_uuid() ~= 6 then t:error("backend dup must be the backend") end
  if core.frontends.dup:get_uuid() ~= 5 then t:error("frontend dup must be the frontend") end
  if core.backends.fe_main ~= nil then t:error("a frontend is not a backend") end
  if core.proxies.nope ~= nil then t:error("unknown proxy") end
  core.backends.www_dc1 = "overwritten"
  if type(core.backends.www_dc1) ~= "userdata" then t:error("__newindex must ignore writes") end
  -- fresh object each lookup
  if rawequal(core.proxies.app, core.proxies.app) then t:error("lookups must return fresh objects") end
end

function TestProxyMethods(t)
  local px = core.backends.www_dc1
  if px:get_name() ~= "www_dc1" or px:get_uuid() ~= 2 then t:error("name/uuid") end
  if px:get_cap() ~= "backend" or px:get_mode() ~= "http" then t:error("cap/mode") end
  if core.proxies.app:get_cap() ~= "proxy" then t:error("listen cap") end
  if px:get_srv_act() ~= 1 or px:get_srv_bck() ~= 1 then t:error("srv act/bck", px:get_srv_act(), px:get_srv_bck()) end
  local stats = px:get_stats()
  if stats.pxname ~= "www_dc1" or stats.scur ~= 3 or stats.qcur ~= nil then t:error("stats") end
  px:pause(); px:resume(); px:stop(); px:shut_bcksess()
  if px.get_name(px) ~= "www_dc1" then t:error("dot call") end
  if px.stktable ~= nil then t:error("no stick table") end
end

function TestProxyLegacyFields(t)
  local px = core.backends.www_dc1
  if px.name ~= "www_dc1" or px.uuid ~= 2 then t:error("legacy name/uuid") end
end

function TestListeners(t)
  local ls = core.frontends.fe_main.listeners
  if type(ls.web) ~= "userdata" or type(ls["sock-2"]) ~= "userdata" then t:error("listener names") end
  if ls.web:get_stats().status ~= "OPEN" then t:error("listener stats") end
  if ls["sock-2"]:get_stats() ~= nil then t:error("listener without stats must give nil") end
end

function TestMailers(t)
  local m = core.proxies.app:get_mailers()
  if not m then t:fatal("mailers missing") end
  if m.track_server_health ~= true or m.log_level ~= 6 or m.mailservers.smtp1 ~= "127.0.0.1:2525"
     or m.mailservers_timeout ~= 10000 or m.smtp_hostname ~= "lb1" or m.smtp_from ~= "lb@example.com"
     or m.smtp_to ~= "ops@example.com" then t:error("mailer fields") end
  if core.backends.www_dc1:get_mailers() ~= nil then t:error("no mailers must give nil") end
  if select("#", core.backends.www_dc1:get_mailers()) ~= 0 then t:error("no mailers must return no value") end
end

function TestServersSet(t)
  local servers = core.backends.www_dc1.servers
  if keys(servers) ~= "server1,server2" then t:error("servers (deleted skipped):", keys(servers)) end
  if servers.gone ~= nil then t:error("deleted server lookup") end
  if servers.server1:get_name() ~= "server1" then t:error("lookup by name") end
  local order = {}
  for name in pairs(servers) do order[#order + 1] = name end
  if order[1] ~= "server1" or order[2] ~= "server2" then t:error("config order") end
  -- nested iteration of the same set
  local pairsCount = 0
  for _ in pairs(servers) do for _ in pairs(servers) do pairsCount = pairsCount + 1 end end
  if pairsCount ~= 4 then t:error("nested pairs", pairsCount) end
end

function TestServerMethods(t)
  local s1 = core.backends.www_dc1.servers.server1
  local s2 = core.backends.www_dc1.servers.server2
  if s1:get_puid() ~= "1" or s1:get_rid() ~= "0" then t:error("puid/rid must be strings") end
  if s1:is_backup() or not s2:is_backup() or s1:is_dynamic() or s1:is_draining() then t:error("booleans") end
  if s1:get_cur_sess() ~= 2 or s1:get_pend_conn() ~= 0 then t:error("sessions") end
  if s1:get_maxconn() ~= 30 then t:error("maxconn") end
  if s1:set_maxconn("50") ~= nil or s1:get_maxconn() ~= 50 then t:error("set_maxconn") end
  if s1:set_maxconn("x") ~= "Integer value expected." then t:error("set_maxconn error text") end
  if s1:set_weight(0) ~= nil or s1:get_weight() ~= 0 then t:error("set_weight numeric arg") end
  if s1:set_weight("999") == nil then t:error("set_weight error") end
  if s1:get_addr() ~= "192.0.2.1:80" or s2:get_addr() ~= "2001:db8::1:80" then t:error("addr") end
  if s1:set_addr("192.0.2.9", 8080) ~= nil or s1:get_addr() ~= "192.0.2.9:8080" then t:error("set_addr") end
  if s1:set_addr("bad") ~= "Invalid addr" then t:error("set_addr error") end
  local st = s1:get_stats()
  if st.svname ~= "server1" or st.status ~= "UP" or st.type ~= 2 then t:error("server stats") end
  if s1:get_proxy():get_name() ~= "www_dc1" then t:error("get_proxy") end
  if s2:tracking():get_name() ~= "server1" or s1:tracking() ~= nil then t:error("tracking") end
  local tr = s1:get_trackers()
  if #tr ~= 1 or tr[1]:get_name() ~= "server2" then t:error("trackers") end
  if s1:set_drain() ~= nil then t:error("admin calls return nothing") end
  if not s1:is_draining() then t:error("drain") end
  s1:set_ready(); s1:set_maint(); s1:shut_sess()
  s1:check_enable(); s1:check_disable(); s1:check_force_up(); s1:check_force_nolb(); s1:check_force_down()
  s1:agent_enable(); s1:agent_disable(); s1:agent_force_up(); s1:agent_force_down()
  local calls = t:server_calls("www_dc1", "server1")
  local want = "set_drain;set_ready;set_maint;shut_sess;check_enable;check_disable;check_force_up;check_force_nolb;check_force_down;agent_enable;agent_disable;agent_force_up;agent_force_down;"
  if calls ~= want then t:error("calls:", calls) end
  if type(s1.event_sub) ~= "function" then t:error("Server:event_sub") end
  if s1.name ~= "server1" or s1.puid ~= "1" then t:error("legacy name/puid") end
end

-- The seed's least_sessions fetch, with txn.f:fe_name() faked.
local function backend_with_least_sessions(txn)
  local fe_name = txn.f:fe_name()
  local least_sessions_backend = ""
  local least_sessions = 99999999999
  for _, backend in pairs(core.backends) do
    if backend and backend.name:sub(1, #fe_name + 1) == fe_name .. '_' then
      local total_sessions = 0
      for _, server in pairs(backend.servers) do
        local stats = server:get_stats()
        if stats['status'] == 'UP' then
          total_sessions = total_sessions + stats['scur']
          core.Debug(backend.name .. ": " .. total_sessions)
        end
      end
      if least_sessions > total_sessions then
        least_sessions = total_sessions
        least_sessions_backend = backend.name
      end
    end
  end
  core.Debug("Returning: " .. least_sessions_backend)
  return least_sessions_backend
end
core.register_fetches('leastsess_backend', backend_with_least_sessions)

function TestSeedLeastSessions(t)
  local txn = {f = {fe_name = function() return "www" end}}
  local ok, be = t:run_as("sample-fetch", backend_with_least_sessions, txn)
  if not ok or be ~= "www_dc1" then t:error("least sessions backend:", ok, be) end
end
