-- Lua 5.3 compatibility shims and lua-load arguments.

local ARGS = table.pack(...)

function TestLoadArgs(t)
  if ARGS.n ~= 5 then t:error("expected 5 lua-load args, got", ARGS.n) end
  if type(ARGS[1]) ~= "string" or not ARGS[1]:find("127.0.0.1:") then t:error("arg 1:", ARGS[1]) end
end

function TestTablePackUnpack(t)
  local p = table.pack(1, nil, "x")
  if p.n ~= 3 or p[1] ~= 1 or p[2] ~= nil or p[3] ~= "x" then t:error("pack") end
  local a, b, c = table.unpack({1, 2, 3})
  if a ~= 1 or b ~= 2 or c ~= 3 then t:error("table.unpack") end
  local x, y = table.unpack({1, 2, 3}, 2, 3)
  if x ~= 2 or y ~= 3 then t:error("table.unpack range") end
  if unpack == nil then t:error("global unpack must be kept") end
end

function TestPairsHonoursMetamethod(t)
  local obj = setmetatable({}, {__pairs = function(self)
    local i = 0
    return function() i = i + 1; if i <= 2 then return "k" .. i, i * 10 end end, self, nil
  end})
  local seen = {}
  for k, v in pairs(obj) do seen[k] = v end
  if seen.k1 ~= 10 or seen.k2 ~= 20 then t:error("__pairs not honoured") end
  local n = 0
  for _ in pairs({a = 1, b = 2, 3}) do n = n + 1 end
  if n ~= 3 then t:error("plain pairs broken:", n) end
  local ok, err = pcall(pairs, 5)
  if ok or not tostring(err):find("table expected") then t:error("pairs(5):", err) end
end

function TestMathType(t)
  if math.type(3) ~= "integer" then t:error("3") end
  if math.type(2^53) ~= "integer" then t:error("2^53") end
  if math.type(1.5) ~= "float" then t:error("1.5") end
  if math.type("3") ~= nil then t:error("string must give nil") end
  if math.tointeger(3.0) ~= 3 or math.tointeger(3.5) ~= nil then t:error("tointeger") end
end

function TestNumberFormatting(t)
  local cases = {
    {3, "3"}, {10 / 2, "5"}, {2^53, "9007199254740992"}, {2^63, "9223372036854775808"},
    {-2^62, "-4611686018427387904"}, {1.5, "1.5"}, {1 / 3, "0.33333333333333"}, {1e300, "1e+300"},
    {0.1, "0.1"}, {-0.0, "0"},
  }
  for _, c in ipairs(cases) do
    if tostring(c[1]) ~= c[2] then t:error("tostring", c[2], "got", tostring(c[1])) end
  end
  if string.format("%d", 2^40) ~= "1099511627776" then t:error("%d") end
  if string.format("%s|%5.1f|%d%%", 2^60, 3.14159, 7) ~= "1152921504606846976|  3.1|7%" then
    t:error("format:", string.format("%s|%5.1f|%d%%", 2^60, 3.14159, 7))
  end
end

function TestOsDate(t)
  local ts = 1795350000 -- 2026-11-22 12:20:00 UTC, a Sunday
  local got = os.date("!%a %A %b %B %d %e %H %I %j %m %M %p %S %y %Y %z %Z %%", ts)
  local want = "Sun Sunday Nov November 22 22 12 12 326 11 20 PM 00 26 2026 +0000 GMT %"
  if got ~= want then t:error("os.date:\n got  " .. got .. "\n want " .. want) end
  if os.date("!%T %D %F %R", ts) ~= "12:20:00 11/22/26 2026-11-22 12:20" then t:error("T D F R:", os.date("!%T %D %F %R", ts)) end
  if os.date("!%c", ts) ~= "Sun Nov 22 12:20:00 2026" then t:error("%c:", os.date("!%c", ts)) end
  local tt = os.date("!*t", ts)
  if tt.year ~= 2026 or tt.month ~= 11 or tt.day ~= 22 or tt.hour ~= 12 or tt.min ~= 20 or tt.sec ~= 0
     or tt.wday ~= 1 or tt.yday ~= 326 or tt.isdst ~= false then t:error("*t table") end
  -- the mailers.lua Date header, local time
  local d = os.date("%a, %d %b %Y %T %z (%Z)", ts)
  if not d:match("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d [+-]%d%d%d%d %(.+%)$") then t:error("mailers date:", d) end
  local ok, err = pcall(os.date, "%Q", ts)
  if ok or not tostring(err):find("invalid conversion specifier '%%Q'") then t:error("bad specifier:", err) end
end

function TestOsGetenvUsesHost(t)
  if os.getenv("MOONBUS_TEST") ~= "configured" then t:error("getenv from host") end
  if os.getenv("PATH") ~= nil then t:error("process env must not leak") end
  local ok = pcall(os.exit, 0)
  if ok then t:error("os.exit must be refused") end
end

function TestUtf8(t)
  if utf8.char(72, 233, 8364) ~= "Hé€" then t:error("char") end
  if utf8.len("Hé€") ~= 3 then t:error("len") end
  local cps = {}
  for p, c in utf8.codes("aé") do cps[#cps + 1] = p .. ":" .. c end
  if table.concat(cps, ",") ~= "1:97,2:233" then t:error("codes", table.concat(cps, ",")) end
  if utf8.codepoint("é") ~= 233 then t:error("codepoint") end
  if utf8.offset("aé€", 3) ~= 4 then t:error("offset", utf8.offset("aé€", 3)) end
end

function TestPrintAndCoroutines(t)
  print("print works", 1, 2.5)
  local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
  if co(1) ~= 2 or co(5) ~= 10 then t:error("coroutines") end
end
