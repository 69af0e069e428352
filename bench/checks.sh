#!/usr/bin/env bash
# Health-check scale: N servers (default 10000) checked at "inter 1s" against
# real listeners (plain TCP connect checks, or HTTP with --http), Moonbus
# and HAProxy on the same configuration in the same run. Prints the CPU each
# daemon uses, as a share of one core, over a measurement window.
#
# Usage: bench/checks.sh [servers] [seconds] [--http]
set -euo pipefail
n=${1:-10000}
secs=${2:-10}
mode=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/moonbus-checks.XXXXXX)
trap 'exec 3>&- 2>/dev/null; kill $(jobs -p) 2>/dev/null; sleep 0.3; rm -rf "$work"' EXIT
command -v haproxy >/dev/null || { echo "missing haproxy (apt-get install haproxy)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || true

(cd "$root" && go test -c -o "$work/hc.test" ./healthcheck/ && go build -o "$work/moonbus" ./cmd/moonbus)
# Listeners in their own process (ports 12000+), serving until stdin closes.
mkfifo "$work/in"
env HEALTHCHECK_LISTENERS="$n" ${mode:+HEALTHCHECK_LISTENERS_HTTP=1} "$work/hc.test" -test.run='^TestHelperListeners$' <"$work/in" >"$work/addrs" &
exec 3>"$work/in"
for _ in $(seq 100); do grep -q '^ready$' "$work/addrs" 2>/dev/null && break; sleep 0.2; done
grep -v '^ready$' "$work/addrs" | grep -v '^[=-]' | head -n "$n" >"$work/servers"
got=$(wc -l <"$work/servers")
[ "$got" -ge "$n" ] || { echo "only $got listeners" >&2; exit 1; }

cfg() {
  echo "global"
  echo "    maxconn 1000"
  echo "defaults"
  echo "    mode http"
  echo "    timeout connect 2s"
  echo "    timeout client 30s"
  echo "    timeout server 30s"
  echo "    timeout check 2s"
  echo "frontend fe" # HAProxy refuses to start without a listener
  echo "    bind 127.0.0.1:29998"
  echo "    default_backend be"
  echo "backend be"
  [ -n "$mode" ] && echo "    option httpchk GET /"
  i=0
  while read -r a; do i=$((i+1)); echo "    server s$i $a check inter 1s"; done <"$work/servers"
}
cfg >"$work/checks.cfg"

cpu() { # pid seconds -> percent of one core
  local pid=$1 s=$2 t1 t2
  t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  sleep "$s"
  t2=$(awk '{print $14+$15}' /proc/$pid/stat)
  awk -v a="$t1" -v b="$t2" -v s="$s" -v h="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", (b-a)/h/s*100}'
}

"$work/moonbus" -q -f "$work/checks.cfg" 2>"$work/moonbus.err" & mpid=$!
sleep 3 # warm-up: first checks are staggered over the first interval
kill -0 $mpid 2>/dev/null || { cat "$work/moonbus.err"; head -20 "$work/checks.cfg"; exit 1; }
m=$(cpu $mpid "$secs"); kill $mpid; wait $mpid 2>/dev/null || true
haproxy -f "$work/checks.cfg" -q 2>"$work/haproxy.err" & hpid=$!
sleep 3
kill -0 $hpid 2>/dev/null || { cat "$work/haproxy.err"; exit 1; }
h=$(cpu $hpid "$secs"); kill $hpid; wait $hpid 2>/dev/null || true
echo "servers=$n inter=1s checks=${mode:-tcp} window=${secs}s"
echo "moonbus: ${m}% of one core   haproxy 2.6: ${h}% of one core   ratio: $(awk -v a="$m" -v b="$h" 'BEGIN{printf "%.2f", a/b}')"
