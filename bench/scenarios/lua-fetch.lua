-- A routing fetch: use_backend %[lua.pick_backend] (bench scenario lua-fetch).
core.register_fetches("pick_backend", function(txn)
  local path = txn.f:path()
  if path and path:sub(1, 5) == "/api/" then
    return "be"
  end
  return "be"
end)
