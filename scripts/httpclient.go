package scripts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

const httpClientClass = "HTTPClient"

func init() {
	registerClass(&class{
		name: httpClientClass,
		methods: map[string]Method{
			"get":    httpClientRequest(http.MethodGet),
			"head":   httpClientRequest(http.MethodHead),
			"put":    httpClientRequest(http.MethodPut),
			"post":   httpClientRequest(http.MethodPost),
			"delete": httpClientRequest(http.MethodDelete),
		},
	})
}

// httpClient is the HTTPClient class (core.httpclient()).
type httpClient struct{}

func coreHTTPClient(st *State, L *lua.LState) int {
	L.Push(st.newObj(httpClientClass, &httpClient{}))
	return 1
}

// hcRequest is a parsed httpclient argument table.
type hcRequest struct {
	method  string
	url     string
	headers [][2]string
	body    *string
	timeout time.Duration
	dst     string
}

// hcResponse is what the request produced (status 0 on failure).
type hcResponse struct {
	status  int
	reason  string
	headers []hcHeader
	body    string
}

type hcHeader struct {
	name   string
	values []string
}

func httpClientRequest(method string) Method {
	name := strings.ToLower(method)
	return func(st *State, L *lua.LState) int {
		checkObj[*httpClient](L, 1, httpClientClass)
		t, ok := L.Get(2).(*lua.LTable)
		if L.GetTop() != 2 || !ok {
			L.RaiseError("'%s' needs a table as argument", name)
		}
		req := hcRequest{method: method}
		t.ForEach(func(k, v lua.LValue) {
			ks, _ := k.(lua.LString)
			switch string(ks) {
			case "url":
				req.url = lua.LVAsString(v)
			case "body":
				b := lua.LVAsString(v)
				req.body = &b
			case "timeout":
				req.timeout = time.Duration(lua.LVAsNumber(v)) * time.Millisecond
			case "dst":
				req.dst = lua.LVAsString(v)
			case "headers":
				ht, ok := v.(*lua.LTable)
				if !ok {
					return
				}
				ht.ForEach(func(hk, hv lua.LValue) {
					hn, ok1 := hk.(lua.LString)
					list, ok2 := hv.(*lua.LTable)
					if !ok1 || !ok2 {
						return
					}
					list.ForEach(func(_, val lua.LValue) {
						if s, ok := val.(lua.LString); ok {
							req.headers = append(req.headers, [2]string{string(hn), string(s)})
						} else if n, ok := val.(lua.LNumber); ok {
							req.headers = append(req.headers, [2]string{string(hn), FormatNumber(float64(n))})
						}
					})
				})
			default:
				L.RaiseError("'%s' invalid parameter name", lua.LVAsString(k))
			}
		})
		if !st.inRuntime() {
			L.RaiseError("The '%s' function is only allowed in 'frontend', 'backend' or 'task'", name)
		}
		if req.url == "" {
			L.RaiseError("'%s' needs a 'url' argument", name)
		}
		e := st.mustYieldable(L, name)
		var res hcResponse
		settings := st.rt.host.HTTPClient()
		st.Unlocked(func() {
			ctx, cancel := st.stopCtx(e)
			defer cancel()
			res = doHTTPClient(ctx, settings, req)
		})
		L.Push(res.toLua(L))
		return 1
	}
}

func (r hcResponse) toLua(L *lua.LState) *lua.LTable {
	t := L.CreateTable(0, 4)
	t.RawSetString("status", lua.LNumber(r.status))
	t.RawSetString("reason", lua.LString(r.reason))
	h := L.CreateTable(0, len(r.headers))
	for _, hd := range r.headers {
		vals := L.CreateTable(0, len(hd.values))
		for i, v := range hd.values {
			vals.RawSetInt(i, lua.LString(v)) // 0-based, as HAProxy's code does
		}
		h.RawSetString(hd.name, vals)
	}
	t.RawSetString("headers", h)
	t.RawSetString("body", lua.LString(r.body))
	return t
}

// doHTTPClient performs the request; any failure gives status 0.
func doHTTPClient(ctx context.Context, s HTTPClientSettings, r hcRequest) hcResponse {
	var body io.Reader
	if r.body != nil {
		body = strings.NewReader(*r.body)
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return hcResponse{}
	}
	for _, h := range r.headers {
		if strings.EqualFold(h[0], "host") {
			req.Host = h[1]
			continue
		}
		req.Header.Add(h[0], h[1])
	}
	tr, err := hcTransport(s, r.dst)
	if err != nil {
		return hcResponse{}
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}).Do(req)
	if err != nil {
		return hcResponse{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return hcResponse{}
	}
	out := hcResponse{status: resp.StatusCode, body: string(b)}
	out.reason = strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	seen := map[string]int{}
	for name, vals := range resp.Header {
		ln := strings.ToLower(name)
		if i, ok := seen[ln]; ok {
			out.headers[i].values = append(out.headers[i].values, vals...)
			continue
		}
		seen[ln] = len(out.headers)
		out.headers = append(out.headers, hcHeader{name: ln, values: append([]string(nil), vals...)})
	}
	return out
}

// hcTransport builds a one-shot transport honouring the httpclient.*
// settings and the dst override.
func hcTransport(s HTTPClientSettings, dst string) (*http.Transport, error) {
	var override *haAddr
	if dst != "" {
		a, err := parseHAAddr(dst, 0)
		if err != nil {
			return nil, fmt.Errorf("httpclient dst '%s': %w", dst, err)
		}
		override = &a
	}
	connectTimeout := s.TimeoutConnect
	if connectTimeout <= 0 {
		connectTimeout = 5 * time.Second
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: s.SSLVerifyNone}
	if s.SSLCAFile != "" {
		pem, err := os.ReadFile(s.SSLCAFile)
		if err != nil {
			return nil, fmt.Errorf("httpclient.ssl.ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsCfg.RootCAs = pool
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if override != nil {
			network, addr = override.network, override.dialAddr()
		} else {
			host, _, _ := net.SplitHostPort(addr)
			if net.ParseIP(host) == nil {
				if s.ResolversDisabled {
					return nil, fmt.Errorf("httpclient: resolvers disabled, cannot resolve '%s'", host)
				}
				if s.ResolversPrefer == "ipv4" {
					network = "tcp4"
				}
			}
		}
		d := net.Dialer{Timeout: connectTimeout}
		var c net.Conn
		var err error
		for try := 0; try <= s.Retries; try++ {
			c, err = d.DialContext(ctx, network, addr)
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil && network == "tcp4" && override == nil {
			c, err = d.DialContext(ctx, "tcp", addr)
		}
		return c, err
	}
	return &http.Transport{
		DialContext:        dial,
		TLSClientConfig:    tlsCfg,
		DisableKeepAlives:  true,
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}, nil
}
