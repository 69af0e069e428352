package config

import "strings"

// This file lists the HAProxy keywords Moonbus knows but does not act on.
// Two kinds:
//   - ignored: process-level settings that do not apply to a Go daemon.
//     Accepted with one warning each ("'daemon' has no effect in Moonbus, ignored").
//   - unimplemented: keywords that change behaviour and that Moonbus does not
//     implement. A fatal error says so, rather than silently behaving differently.

// ignoredGlobal are global keywords accepted with a warning.
var ignoredGlobal = map[string]bool{
	"daemon": true, "master-worker": true, "user": true, "group": true, "chroot": true,
	"uid": true, "gid": true, "cpu-map": true, "ulimit-n": true, "nbproc": true,
	"nbthread": true, "insecure-fork-wanted": true, "insecure-setuid-wanted": true,
	"expose-experimental-directives": true, "expose-deprecated-directives": true,
	"server-state-file": true, "server-state-base": true, "localpeer": true,
	"stats-file": true, "h1-case-adjust": true, "h1-case-adjust-file": true,
	"h1-accept-payload-with-any-method": true, "h1-do-not-close-on-insecure-transfer-encoding": true,
	"h2-workaround-bogus-websocket-clients": true,
	"quiet":                                 true, "debug": true, "noepoll": true, "nopoll": true, "nokqueue": true,
	"noevports": true, "nosplice": true, "nogetaddrinfo": true, "noreuseport": true,
	"busy-polling": true, "set-dumpable": true, "strict-limits": true,
	"thread-groups": true, "thread-group": true, "numa-cpu-mapping": true,
	"cpu-policy": true, "cpu-set": true, "maxsslconn": true, "maxsslrate": true,
	"maxconnrate": true, "maxsessrate": true, "maxcomprate": true, "maxcompcpuusage": true,
	"maxpipes": true, "maxzlibmem": true, "unix-bind": true, "mworker-max-reloads": true,
	"pp2-never-send-local": true, "cluster-secret": true, "issuers-chain-path": true,
	"setcap": true, "fd-hard-limit": true, "no-memory-trimming": true, "anonkey": true,
	"prealloc-fd": true, "quick-exit": true, "grace": true, "close-spread-time": true,
	"limited-quic": true, "shm-stats-file": true, "shm-stats-file-max-objects": true,
	"dns-accept-family": true, "warn-blocked-traffic-after": true,
	"force-cfg-parser-pause": true, "external-check": true, "key-base": true,
}

// ignoredGlobalPrefixes are families of global keywords accepted with a warning.
var ignoredGlobalPrefixes = []string{"ssl-", "tune.ssl.", "profiling.", "ocsp-update.", "harden.", "acme."}

// unimplementedGlobalPrefixes are families of global keywords refused.
var unimplementedGlobalPrefixes = []string{"51degrees-", "deviceatlas-", "wurfl-"}

func isIgnoredGlobal(kw string) bool {
	if ignoredGlobal[kw] {
		return true
	}
	for _, p := range ignoredGlobalPrefixes {
		if strings.HasPrefix(kw, p) {
			return true
		}
	}
	return false
}

func isUnimplementedGlobal(kw string) bool {
	for _, p := range unimplementedGlobalPrefixes {
		if strings.HasPrefix(kw, p) {
			return true
		}
	}
	return false
}

// ignoredProxy are proxy keywords accepted with a warning.
var ignoredProxy = map[string]bool{
	"bind-process": true, "load-server-state-from-file": true, "server-state-file-name": true,
}

// unimplementedProxy are proxy keywords refused with an explicit error.
var unimplementedProxy = map[string]bool{
	"filter": true, "compression": true, "declare": true, "errorloc": true,
	"errorloc302": true, "errorloc303": true, "http-error": true, "persist": true,
	"force-persist": true, "ignore-persist": true, "source": true, "dispatch": true,
	"external-check": true, "http-send-name-header": true, "dynamic-cookie-key": true,
	"use-fcgi-app": true, "quic-initial": true, "log-steps": true,
}

// removedProxy are keywords HAProxy itself removed, with the replacement it suggests.
var removedProxy = map[string]string{
	"reqadd": "http-request add-header", "reqdel": "http-request del-header",
	"reqrep": "http-request replace-header", "reqirep": "http-request replace-header",
	"reqdeny": "http-request deny", "reqideny": "http-request deny",
	"reqallow": "http-request allow", "reqiallow": "http-request allow",
	"reqpass": "http-request allow", "reqipass": "http-request allow",
	"reqtarpit": "http-request tarpit", "reqitarpit": "http-request tarpit",
	"reqsetbe": "use_backend", "reqisetbe": "use_backend",
	"rspadd": "http-response add-header", "rspdel": "http-response del-header",
	"rsprep": "http-response replace-header", "rspirep": "http-response replace-header",
	"rspdeny": "http-response deny", "rspideny": "http-response deny",
	"block": "http-request deny", "redisp": "option redispatch", "redispatch": "option redispatch",
	"contimeout": "timeout connect", "clitimeout": "timeout client", "srvtimeout": "timeout server",
	"monitor-net": "http-request return status 200 if { src <net> }",
}

// tuneOptions are options accepted without behaviour (they only tune): they
// go to Proxy.OtherOptions.
var tuneOptions = map[string]bool{
	"abortonclose": true, "http-use-htx": true, "splice-auto": true, "splice-request": true,
	"splice-response": true, "tcpka": true, "clitcpka": true, "srvtcpka": true,
	"http-ignore-probes": true, "contstats": true, "socket-stats": true, "nolinger": true,
	"tcp-smart-accept": true, "tcp-smart-connect": true, "logasap": true, "http-no-delay": true,
	"prefer-last-server": true, "persist": true, "checkcache": true, "http-pretend-keepalive": true,
	"independent-streams": true, "dontlog-normal": true, "accept-invalid-http-request": true,
	"accept-invalid-http-response": true, "accept-unsafe-violations-in-http-request": true,
	"accept-unsafe-violations-in-http-response": true, "h1-case-adjust-bogus-client": true,
	"h1-case-adjust-bogus-server": true, "http-restrict-req-hdr-names": true,
	"idle-close-on-response": true, "disable-h2-upgrade": true, "http-drop-request-trailers": true,
	"http-drop-response-trailers": true,
}

// unimplementedOptions are options refused with an explicit error.
var unimplementedOptions = map[string]bool{
	"originalto": true, "transparent": true, "external-check": true, "spop-check": true,
	"http_proxy": true, "forceclose": true, "http-tunnel": true,
}

// tuneProxyKeywords are proxy keywords accepted into Proxy.OtherKeywords.
var tuneProxyKeywords = map[string]uint8{
	"backlog": capD | capF, "http-reuse": capD | capB, "rate-limit": capF,
	"max-keep-alive-queue": capD | capB, "max-session-srv-conns": capD | capF,
	"hash-balance-factor": capD | capB, "retry-on": capD | capB, "guid": capF | capB,
	"clitcpka-cnt": capD | capF, "clitcpka-idle": capD | capF, "clitcpka-intvl": capD | capF,
	"srvtcpka-cnt": capD | capB, "srvtcpka-idle": capD | capB, "srvtcpka-intvl": capD | capB,
	"hash-preserve-affinity": capD | capB,
}
