-- Helpers for the engine Lua tests (loaded with require "testdata.helpers"):
-- a small HTTP/1.1 client over core.tcp().
local M = {}

-- connect returns a connected Socket (5s timeout).
function M.connect(addr)
  local s = core.tcp()
  s:settimeout(5)
  local ok, err = s:connect(addr)
  if not ok then error("connect " .. addr .. ": " .. tostring(err)) end
  return s
end

-- read_response reads one response: status (number or nil when the
-- connection closed first), headers (lowercase name -> list of values),
-- body.
function M.read_response(s)
  local line = s:receive("*l")
  if not line then return nil, {}, "" end
  local status = tonumber(line:match("^HTTP/1%.%d (%d+)"))
  local headers = {}
  while true do
    local l = s:receive("*l")
    if not l or l == "" then break end
    local n, v = l:match("^([^:]+):%s*(.*)$")
    if n then
      n = n:lower()
      headers[n] = headers[n] or {}
      table.insert(headers[n], v)
    end
  end
  local body = ""
  if headers["content-length"] then
    local n = tonumber(headers["content-length"][1])
    if n > 0 then body = s:receive(n) or "" end
  elseif headers["transfer-encoding"] and headers["transfer-encoding"][1] == "chunked" then
    local parts = {}
    while true do
      local sz = tonumber(s:receive("*l") or "0", 16)
      if not sz or sz == 0 then s:receive("*l"); break end
      parts[#parts + 1] = s:receive(sz)
      s:receive("*l")
    end
    body = table.concat(parts)
  elseif status ~= 204 and status ~= 304 then
    body = s:receive("*a") or ""
  end
  return status, headers, body
end

-- raw_request builds a request (keep-alive unless hdrs says otherwise).
function M.raw_request(method, path, hdrs, body)
  local req = { method .. " " .. path .. " HTTP/1.1", "host: test" }
  for n, v in pairs(hdrs or {}) do req[#req + 1] = n .. ": " .. v end
  if body then req[#req + 1] = "content-length: " .. #body end
  return table.concat(req, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- request sends one request on a new connection and returns status,
-- headers, body.
function M.request(addr, method, path, hdrs, body)
  local s = M.connect(addr)
  hdrs = hdrs or {}
  hdrs["connection"] = "close"
  s:send(M.raw_request(method, path, hdrs, body))
  local st, h, b = M.read_response(s)
  s:close()
  return st, h, b
end

function M.get(addr, path, hdrs) return M.request(addr, "GET", path, hdrs) end

-- has reports whether a list of strings (t:logs()) has one containing s.
function M.has(list, s)
  for _, l in ipairs(list) do
    if l:find(s, 1, true) then return true end
  end
  return false
end

-- keys returns the sorted keys of a table joined with ",".
function M.keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = tostring(k) end
  table.sort(out)
  return table.concat(out, ",")
end

-- eventually polls cond every 10 ms until it returns true or ms (default
-- 5000) have passed; it returns the last result of cond.
function M.eventually(cond, ms)
  local function now() local n = core.now(); return n.sec * 1000 + math.floor(n.usec / 1000) end
  local deadline = now() + (ms or 5000)
  while not cond() do
    if now() >= deadline then return false end
    core.msleep(10)
  end
  return true
end

return M
