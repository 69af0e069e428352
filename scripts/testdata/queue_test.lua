-- Queue and Regex classes.

local shared_q = core.queue() -- created in body, shared by every entry of the state

function TestQueueBasics(t)
  local q = core.queue()
  if q:size() ~= 0 or q:pop() ~= nil then t:error("empty queue") end
  local tbl = {x = 1}
  if q:push(1) ~= true or q:push("two") ~= true or q:push(tbl) ~= true then t:error("push must return true") end
  if q:size() ~= 3 then t:error("size", q:size()) end
  if q:pop() ~= 1 or q:pop() ~= "two" then t:error("fifo order") end
  local got = q:pop()
  if got ~= tbl then t:error("tables are stored by reference") end
  local ok = pcall(q.push, q, nil)
  if ok then t:error("push(nil) must raise") end
end

function TestQueuePopWaitAcrossTasks(t)
  local out = core.queue()
  core.register_task(function()
    for i = 1, 3 do
      local v = shared_q:pop_wait()
      out:push(v * 2)
    end
  end)
  for i = 1, 3 do
    core.msleep(5)
    shared_q:push(i)
  end
  local sum = 0
  for i = 1, 3 do sum = sum + out:pop_wait() end
  if sum ~= 12 then t:error("sum", sum) end
end

function TestQueueAlarmWakesWait(t)
  local q = core.queue()
  core.register_task(function() core.msleep(20); q:push("wake") end)
  q:alarm()
  local before = core.now()
  core.wait() -- no timeout: only the alarm can wake us
  if q:pop() ~= "wake" then t:error("woken without an item") end
  local ok, err = t:run_as("sample-fetch", function() return q:pop_wait() end)
  if ok or err ~= "yield not allowed" then t:error("pop_wait in fetch:", ok, err) end
end

function TestRegex(t)
  local ok, re = Regex.new("^(\\w+)-(\\d+)$", true)
  if not ok then t:fatal("Regex.new:", re) end
  if not re:exec("abc-12") or re:exec("ABC_x") then t:error("exec") end
  local m, caps = re:match("srv-42")
  if not m or caps[1] ~= "srv-42" or caps[2] ~= "srv" or caps[3] ~= "42" then t:error("match captures") end
  if re:match("nope") ~= false then t:error("no match must be false") end
  local okci, ci = Regex.new("^abc$", false)
  if not okci or not ci:exec("ABC") then t:error("case-insensitive") end
  local bad, err = Regex.new("(unclosed", true)
  if bad ~= false or type(err) ~= "string" then t:error("bad regex must give false, err") end
  local _, many = Regex.new(string.rep("(a)", 25))
  local _, caps25 = many:match(string.rep("a", 25))
  if #caps25 ~= 20 then t:error("captures capped at 20, got", #caps25) end
end
