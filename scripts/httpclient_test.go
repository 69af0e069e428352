package scripts

import (
	"context"
	"encoding/pem"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestHTTPClientHostSettings(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(httpTestHandler())
	defer tlsSrv.Close()
	plain := httptest.NewServer(httpTestHandler())
	defer plain.Close()
	_, port, _ := net.SplitHostPort(plain.Listener.Addr().String())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(s HTTPClientSettings, url string) int {
		return doHTTPClient(ctx, s, hcRequest{method: "GET", url: url}).status
	}
	for _, tc := range []struct {
		name string
		s    HTTPClientSettings
		url  string
		want int
	}{
		{"tls verify fails without CA", HTTPClientSettings{}, tlsSrv.URL + "/big", 0},
		{"tls verify none", HTTPClientSettings{SSLVerifyNone: true}, tlsSrv.URL + "/big", 200},
		{"tls with ca-file", HTTPClientSettings{SSLCAFile: caFile}, tlsSrv.URL + "/big", 200},
		{"resolvers disabled, name", HTTPClientSettings{ResolversDisabled: true}, "http://localhost:" + port + "/big", 0},
		{"resolvers disabled, address", HTTPClientSettings{ResolversDisabled: true}, plain.URL + "/big", 200},
		{"prefer ipv4", HTTPClientSettings{ResolversPrefer: "ipv4", Retries: 2}, "http://localhost:" + port + "/big", 200},
		{"bad url", HTTPClientSettings{}, "::nonsense", 0},
	} {
		if got := get(tc.s, tc.url); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	if res := doHTTPClient(ctx, HTTPClientSettings{}, hcRequest{method: "GET", url: plain.URL + "/echo", dst: "bogus@x"}); res.status != 0 {
		t.Errorf("bad dst: %d", res.status)
	}
}

func TestParseHAAddr(t *testing.T) {
	for _, tc := range []struct {
		in       string
		port     int
		network  string
		dialAddr string
		err      bool
	}{
		{"127.0.0.1:25", -1, "tcp", "127.0.0.1:25", false},
		{"ipv4@127.0.0.1:25", -1, "tcp4", "127.0.0.1:25", false},
		{"ipv6@[::1]:25", -1, "tcp6", "[::1]:25", false},
		{"ipv6@::1:25", -1, "tcp6", "[::1]:25", false},
		{"::1", 25, "tcp", "[::1]:25", false},
		{"unix@/run/x.sock", -1, "unix", "/run/x.sock", false},
		{"/run/x.sock", -1, "unix", "/run/x.sock", false},
		{"abns@name", -1, "unix", "@name", false},
		{"mail.example.com:587", -1, "tcp", "mail.example.com:587", false},
		{"127.0.0.1", -1, "", "", true},
		{"fd@3", -1, "", "", true},
		{"1.2.3.4:99999", -1, "", "", true},
	} {
		a, err := parseHAAddr(tc.in, tc.port)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if err == nil && (a.network != tc.network || a.dialAddr() != tc.dialAddr) {
			t.Errorf("%q: %s %s, want %s %s", tc.in, a.network, a.dialAddr(), tc.network, tc.dialAddr)
		}
	}
}
