-- core.register_cron(spec, fn[, args...]) (a Moonbus addition): fn runs in
-- task context at each trigger of a robfig/cron spec: 5 fields, an optional
-- leading seconds field, @every <duration>, @hourly, CRON_TZ=... A run that
-- is still going when the next trigger fires makes that trigger skip; a bad
-- spec fails the configuration check, naming the spec.

-- Every second: one line per backend with its usable servers.
core.register_cron("@every 1s", function(prefix)
  for name, be in pairs(core.backends) do
    core.Info(string.format("%s %s: %d active, %d backup servers usable", prefix, name, be:get_srv_act(), be:get_srv_bck()))
  end
end, "[cron]")

-- At second 30 of every minute (six fields: seconds first).
core.register_cron("30 * * * * *", function()
  core.Info("[cron] half past the minute")
end)

-- Every day at 03:00 UTC.
core.register_cron("CRON_TZ=UTC 0 3 * * *", function()
  core.Info("[cron] nightly")
end)
