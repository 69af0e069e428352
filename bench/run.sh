#!/usr/bin/env bash
# Moonbus vs HAProxy on the same machine, same run (DESIGN §7 method):
# an nginx backend returning a short body, wrk -t1 -c64 on loopback,
# alternating rounds, median of the per-round ratios.
#
# Usage: bench/run.sh [scenario] [rounds] [seconds]
#   scenario: plain (default) | rules | lua-fetch | lua-service
# Needs: haproxy, nginx (nginx-light), wrk (apt-get install haproxy nginx-light wrk).
set -euo pipefail
scenario=${1:-plain}
rounds=${2:-5}
secs=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/moonbus-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; sleep 0.2; rm -rf "$work"' EXIT

for bin in haproxy nginx wrk; do
  command -v $bin >/dev/null || { echo "missing $bin: apt-get install haproxy nginx-light wrk" >&2; exit 1; }
done

base=${BENCH_PORT_BASE:-18080}  # BENCH_PORT_BASE moves the three ports
NGINX_PORT=$base HAPROXY_PORT=$((base + 1)) MOONBUS_PORT=$((base + 2))
export NGINX_PORT

# nginx backend: 19-byte body, keep-alive.
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 "hello from nginx!\n"; }
  }
}
NGX
nginx -c "$work/nginx/nginx.conf" &

# The proxy configuration, shared by both (only the port differs).
cfg() {
  local port=$1
  cat "$here/scenarios/$scenario.cfg" | sed -e "s/@PORT@/$port/g" -e "s/@BACKEND@/127.0.0.1:$NGINX_PORT/g" -e "s#@DIR@#$here/scenarios#g"
}
cfg $HAPROXY_PORT >"$work/haproxy.cfg"
cfg $MOONBUS_PORT >"$work/moonbus.cfg"

(cd "$root" && go build -o "$work/moonbus" ./cmd/moonbus)
haproxy -f "$work/haproxy.cfg" -q & hpid=$!
"$work/moonbus" -q -f "$work/moonbus.cfg" & mpid=$!
sleep 1
for p in $NGINX_PORT $HAPROXY_PORT $MOONBUS_PORT; do
  curl -fsS "http://127.0.0.1:$p/" >/dev/null || { echo "port $p is not answering" >&2; exit 1; }
done

cputicks() { awk '{print $14+$15}' /proc/$1/stat; }
run_wrk() { # port pid -> "rps p99ms cpu_us_per_request"
  local t1 t2 out
  t1=$(cputicks $2)
  out=$(wrk -t1 -c64 -d"${secs}s" --latency "http://127.0.0.1:$1/")
  t2=$(cputicks $2)
  echo "$out" | awk -v t1="$t1" -v t2="$t2" -v hz="$(getconf CLK_TCK)" '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    /requests in/ {n=$1}
    END {printf "%s %s %.1f\n", rps, p99, (t2-t1)/hz*1e6/n}'
}

echo "scenario=$scenario rounds=$rounds duration=${secs}s wrk -t1 -c64 (haproxy $(haproxy -v | head -1 | awk '{print $3}'), $(go version | awk '{print $3}'))"
run_wrk $HAPROXY_PORT $hpid >/dev/null  # warm-up
run_wrk $MOONBUS_PORT $mpid >/dev/null
ratios=() lratios=() cratios=()
for i in $(seq 1 "$rounds"); do
  read -r hr hl hc < <(run_wrk $HAPROXY_PORT $hpid)
  read -r mr ml mc < <(run_wrk $MOONBUS_PORT $mpid)
  r=$(awk -v a="$mr" -v b="$hr" 'BEGIN{printf "%.3f", a/b}')
  l=$(awk -v a="$ml" -v b="$hl" 'BEGIN{printf "%.3f", a/b}')
  c=$(awk -v a="$mc" -v b="$hc" 'BEGIN{printf "%.3f", a/b}')
  ratios+=("$r") lratios+=("$l") cratios+=("$c")
  printf "round %d: haproxy %6.0f req/s p99 %6.2fms %5.1fus/req | moonbus %6.0f req/s p99 %6.2fms %5.1fus/req | ratio %s p99 %s cpu %s\n" "$i" "$hr" "$hl" "$hc" "$mr" "$ml" "$mc" "$r" "$l" "$c"
done
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
echo "median throughput ratio (moonbus/haproxy): $(median "${ratios[@]}")"
echo "median p99 latency ratio (moonbus/haproxy): $(median "${lratios[@]}")"
echo "median CPU-per-request ratio (moonbus/haproxy, lower is better): $(median "${cratios[@]}")"
