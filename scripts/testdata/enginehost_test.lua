-- Proxy, Server and Listener objects over a real engine, core.get_info and
-- core.get_var (enginehost_test.cfg).
local h = require("testdata.helpers")

body_backends = h.keys(core.backends)

function TestProxyTablesLive(t)
  if body_backends ~= "" then t:error("core.backends is empty while the files load", body_backends) end
  if h.keys(core.proxies) ~= "be_srv,be_static,both,fe_main" then t:error("proxies", h.keys(core.proxies)) end
  if h.keys(core.frontends) ~= "both,fe_main" then t:error("frontends", h.keys(core.frontends)) end
  if h.keys(core.backends) ~= "be_srv,be_static,both" then t:error("backends", h.keys(core.backends)) end
  local fe, be, both = core.frontends.fe_main, core.backends.be_srv, core.proxies.both
  if fe:get_cap() ~= "frontend" or be:get_cap() ~= "backend" or both:get_cap() ~= "proxy" then t:error("caps") end
  if fe:get_mode() ~= "http" or fe:get_name() ~= "fe_main" or type(fe:get_uuid()) ~= "number" then t:error("mode/name/uuid") end
  if be:get_srv_act() ~= 3 or be:get_srv_bck() ~= 1 then t:error("srv act/bck", be:get_srv_act(), be:get_srv_bck()) end
  local bs = be:get_stats()
  if bs.pxname ~= "be_srv" or bs.svname ~= "BACKEND" or bs.status ~= "UP" or bs.type ~= 1 then t:error("backend stats", bs.pxname, bs.svname, bs.status) end
  local fs = fe:get_stats()
  if fs.svname ~= "FRONTEND" or fs.status ~= "OPEN" or fs.type ~= 0 then t:error("frontend stats", fs.svname, fs.status) end
  if h.keys(fe.listeners) ~= "sock-2,web" then t:error("listeners", h.keys(fe.listeners)) end
  local ls = fe.listeners.web:get_stats()
  if ls.status ~= "OPEN" or ls.svname ~= "web" or ls.type ~= 3 then t:error("listener stats", ls.status, ls.svname) end
  if fe:get_mailers() ~= nil then t:error("no mailers") end
end

function TestProxyPauseResume(t)
  local fe = core.frontends.fe_main
  fe:pause()
  if fe:get_stats().status ~= "PAUSED" then t:error("paused status", fe:get_stats().status) end
  local s = core.tcp()
  s:settimeout(1)
  if s:connect(ADDR.fe_main) then t:error("a paused frontend must not accept") end
  fe:resume()
  if fe:get_stats().status ~= "OPEN" then t:error("resumed status") end
  local st = h.get(ADDR.fe_main, "/")
  if st ~= 200 then t:error("after resume", st) end
end

function TestServersLive(t)
  local be = core.backends.be_srv
  if h.keys(be.servers) ~= "s1,s2,s3,s4" then t:error("servers", h.keys(be.servers)) end
  local s1, s3, s4 = be.servers.s1, be.servers.s3, be.servers.s4
  if s1:get_name() ~= "s1" or s1:get_puid() ~= "1" or s1:get_rid() ~= "0" then t:error("ids") end
  if s1:is_backup() or not be.servers.s2:is_backup() or s1:is_dynamic() or s1:is_draining() then t:error("booleans") end
  if s1:get_weight() ~= 10 or s1:get_maxconn() ~= 20 then t:error("weight/maxconn") end
  if s1:get_addr() ~= BACKEND then t:error("addr", s1:get_addr()) end
  if s1:get_proxy():get_name() ~= "be_srv" then t:error("get_proxy") end
  if s4:tracking():get_name() ~= "s3" or s3:get_trackers()[1]:get_name() ~= "s4" or s1:tracking() ~= nil then t:error("tracking") end
  local st = s1:get_stats()
  if st.pxname ~= "be_srv" or st.svname ~= "s1" or st.status ~= "no check" or st.type ~= 2 or st.weight ~= 10 or st.scur ~= 0 then
    t:error("stats", st.pxname, st.svname, st.status, st.weight)
  end
  if st.check_status ~= nil then t:error("absent fields must be nil") end
  if s1:get_cur_sess() ~= 0 or s1:get_pend_conn() ~= 0 then t:error("sessions") end
  if s1.name ~= "s1" or s1.puid ~= "1" then t:error("legacy fields") end
end

function TestServerSetters(t)
  local s1 = core.backends.be_srv.servers.s1
  if s1:set_weight("5") ~= nil or s1:get_weight() ~= 5 then t:error("set_weight") end
  if s1:set_weight("50%") ~= nil or s1:get_weight() ~= 5 then t:error("set_weight %", s1:get_weight()) end
  if s1:set_weight("300") ~= "Absolute weight can only be between 0 and 256 inclusive." then t:error("weight range", s1:set_weight("300")) end
  if core.backends.be_static.servers.st1:set_weight("3") == nil then t:error("static-rr refuses weights") end
  s1:set_weight("10")
  if s1:set_maxconn("33") ~= nil or s1:get_maxconn() ~= 33 then t:error("set_maxconn") end
  if s1:set_maxconn("x") == nil then t:error("bad maxconn") end
  s1:set_maxconn("20")
  local old = s1:get_addr()
  if s1:set_addr("127.0.0.2", "8080") ~= nil or s1:get_addr() ~= "127.0.0.2:8080" then t:error("set_addr", s1:get_addr()) end
  if s1:set_addr("not-an-ip") == nil then t:error("bad addr") end
  local ip, port = old:match("^(.*):(%d+)$")
  s1:set_addr(ip, port)
  if s1:get_addr() ~= old then t:error("restore addr") end
end

function TestServerAdmin(t)
  local s1, s3 = core.backends.be_srv.servers.s1, core.backends.be_srv.servers.s3
  s1:set_maint()
  if s1:get_stats().status ~= "MAINT" then t:error("maint", s1:get_stats().status) end
  s1:set_ready()
  s1:set_drain()
  if not s1:is_draining() or s1:get_stats().status ~= "DRAIN" then t:error("drain", s1:get_stats().status) end
  s1:set_ready()
  if s1:is_draining() or s1:get_stats().status ~= "no check" then t:error("ready", s1:get_stats().status) end
  s1:shut_sess()
  s3:check_force_down()
  if not s3:get_stats().status:find("^DOWN") then t:error("force down", s3:get_stats().status) end
  if not core.backends.be_srv.servers.s4:get_stats().status:find("^DOWN") then t:error("tracker follows", core.backends.be_srv.servers.s4:get_stats().status) end
  s3:check_force_up()
  if s3:get_stats().status ~= "UP" then t:error("force up", s3:get_stats().status) end
  s3:check_disable()
  if s3:get_stats().status ~= "no check" then t:error("check disabled", s3:get_stats().status) end
  s3:check_enable()
  -- Enabling the check runs one at once; a passing check ends NOLB, so
  -- force it again until that check is over (the next is an hour away).
  local nolb = h.eventually(function()
    s3:check_force_nolb()
    return s3:get_stats().status:find("NOLB") ~= nil
  end)
  if not nolb then t:error("nolb", s3:get_stats().status) end
  s3:check_force_up()
  s3:agent_enable(); s3:agent_disable(); s3:agent_force_up(); s3:agent_force_down()
  core.backends.be_srv:shut_bcksess()
end

function TestInfoAndProcVars(t)
  local info = core.get_info()
  if info.Name ~= "HAProxy" and info.Name ~= "Moonbus" then t:error("Name", info.Name) end
  if info.Version ~= "test" or info.node ~= "lb-test" or type(info.Pid) ~= "number" then t:error("info", info.Version, info.node) end
  h.get(ADDR.fe_main, "/")
  if core.get_var("proc.hits") ~= 1 then t:error("proc var", core.get_var("proc.hits")) end
  if core.get_var("proc.nope") ~= nil then t:error("unknown proc var") end
end
