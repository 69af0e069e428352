package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseServerParams(t *testing.T) {
	base := NewServerParams()
	base.Other = []string{"tfo"}
	got, err := ParseServerParams([]string{"check", "inter", "3s", "weight", "50", "ciphers", "HIGH", "backup"}, base, true)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Check || got.Inter != 3*time.Second || got.Weight != 50 || !got.Backup || got.Rise != 2 {
		t.Errorf("unexpected params: %+v", got)
	}
	if want := []string{"tfo", "ciphers HIGH"}; !reflect.DeepEqual(got.Other, want) {
		t.Errorf("Other = %q, want %q", got.Other, want)
	}
	if len(base.Other) != 1 || base.Check {
		t.Errorf("base was modified: %+v", base)
	}

	tests := []struct {
		name    string
		words   []string
		dynamic bool
		want    string
	}{
		{name: "init-addr is static only", words: []string{"init-addr", "none"}, dynamic: true, want: "'init-addr' option is not accepted for dynamic server"},
		{name: "resolvers is static only", words: []string{"check", "resolvers", "dns"}, dynamic: true, want: "'resolvers' option is not accepted for dynamic server"},
		{name: "enabled is static only", words: []string{"enabled"}, dynamic: true, want: "'enabled' option is not accepted for dynamic server"},
		{name: "unknown keyword", words: []string{"wieght", "3"}, want: "unknown keyword 'wieght'; did you mean 'weight' maybe ?"},
		{name: "missing argument", words: []string{"weight"}, want: "'weight' expects an argument"},
		{name: "bad value", words: []string{"on-error", "explode"}, want: "'on-error' expects 'fastinter', 'fail-check', 'sudden-death', 'mark-down', got 'explode'"},
		{name: "unimplemented", words: []string{"socks4", "1.2.3.4:1080"}, want: "'socks4' is an HAProxy keyword that Moonbus does not implement"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseServerParams(tt.words, NewServerParams(), tt.dynamic)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := ParseServerParams([]string{"init-addr", "none", "resolvers", "dns"}, NewServerParams(), false); err != nil {
		t.Errorf("static server refused static keywords: %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseFiles(t *testing.T) {
	dir := t.TempDir()
	confd := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(confd, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "main.cfg"), "global\n    description \"${HAPROXY_CFGFILES}\"\ndefaults\n    timeout connect 1s\n    timeout server 1s\n")
	writeFile(t, filepath.Join(confd, "20-be.cfg"), "backend be2\n    server s 10.0.0.2:80\n")
	writeFile(t, filepath.Join(confd, "10-be.cfg"), "backend be1\n    server s 10.0.0.1:80\n")
	writeFile(t, filepath.Join(confd, "notes.txt"), "this is not a configuration\n")
	writeFile(t, filepath.Join(confd, ".hidden.cfg"), "garbage\n")

	cfg, err := ParseFiles([]string{filepath.Join(dir, "main.cfg"), confd}, Options{Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(dir, "main.cfg"), filepath.Join(confd, "10-be.cfg"), filepath.Join(confd, "20-be.cfg")}
	if !reflect.DeepEqual(cfg.Files, wantFiles) {
		t.Errorf("Files = %q, want %q", cfg.Files, wantFiles)
	}
	if want := strings.Join(wantFiles, ";"); cfg.Global.Description != want {
		t.Errorf("HAPROXY_CFGFILES = %q, want %q", cfg.Global.Description, want)
	}
	if len(cfg.Proxies) != 2 || cfg.Proxies[0].Name != "be1" || cfg.Proxies[1].Name != "be2" {
		t.Fatalf("proxies not in lexical file order: %+v", cfg.Proxies)
	}
	// The defaults of main.cfg still apply to the other files.
	if cfg.Proxies[1].Timeouts.Connect != time.Second || cfg.Proxies[1].Pos.File != filepath.Join(confd, "20-be.cfg") {
		t.Errorf("be2: %+v", cfg.Proxies[1])
	}
}

func TestParseFilesSectionPerFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.cfg"), filepath.Join(dir, "b.cfg")
	writeFile(t, a, "backend be\n    server s1 10.0.0.1:80\n")
	writeFile(t, b, "    server s2 10.0.0.2:80\n")
	_, err := ParseFiles([]string{a, b, filepath.Join(dir, "missing.cfg")}, Options{Env: map[string]string{}})
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %v is not an ErrorList", err)
	}
	text := err.Error()
	for _, want := range []string{
		"Could not open configuration file " + filepath.Join(dir, "missing.cfg") + " : no such file or directory",
		"parsing [" + b + ":1] : unknown keyword 'server' out of section",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("error text lacks %q:\n%s", want, text)
		}
	}
	var one *Error
	if !errors.As(err, &one) {
		t.Error("errors.As cannot reach an *Error inside the ErrorList")
	}
}

func TestEnvironmentIsolation(t *testing.T) {
	t.Setenv("MOONBUS_CFG_TEST", "from-process")
	cfg, err := Parse("env.cfg", []byte("global\n    setenv MOONBUS_CFG_SET yes\n    description \"${MOONBUS_CFG_TEST} ${MOONBUS_CFG_SET}\"\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.Description != "from-process yes" {
		t.Errorf("description = %q", cfg.Global.Description)
	}
	if _, set := os.LookupEnv("MOONBUS_CFG_SET"); set {
		t.Error("setenv changed the process environment")
	}
	if cfg.Env["MOONBUS_CFG_SET"] != "yes" || cfg.Env["HAPROXY_BRANCH"] != "3.2" || cfg.Env["HAPROXY_TCP_LOG_FMT"] != TCPLogFormat {
		t.Errorf("Config.Env lacks expected values")
	}
	cfg, err = Parse("v.cfg", []byte(".if version_atleast(3.3)\nglobal\n    node new\n.endif\n"), Options{Env: map[string]string{}, Version: "3.4-dev2"})
	if err != nil || cfg.Global.Node != "new" || cfg.Env["HAPROXY_BRANCH"] != "3.4" {
		t.Errorf("Options.Version not honoured: %v %+v", err, cfg.Global)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Pos: Pos{File: "app.cfg", Line: 12}, Msg: "unknown keyword 'foo' in 'backend' section"}
	if got := e.Error(); got != "parsing [app.cfg:12] : unknown keyword 'foo' in 'backend' section" {
		t.Errorf("Error() = %q", got)
	}
	l := ErrorList{e, {Pos: Pos{File: "x.cfg"}, Msg: "Could not open configuration file x.cfg : denied"}}
	if got := l.Error(); got != e.Error()+"\nCould not open configuration file x.cfg : denied" {
		t.Errorf("ErrorList.Error() = %q", got)
	}
	d := Diag{Pos: Pos{File: "a.cfg", Line: 3}, Level: "warning", Msg: "'daemon' has no effect in Moonbus, ignored"}
	if got := d.String(); got != "parsing [a.cfg:3] : 'daemon' has no effect in Moonbus, ignored" {
		t.Errorf("Diag.String() = %q", got)
	}
}

// TestSecretsStayHidden checks that passwords, tokens and secrets appear
// neither in the JSON form of the configuration nor in error texts.
func TestSecretsStayHidden(t *testing.T) {
	const secret = "S3cr3t-Value"
	good := strings.ReplaceAll(`mailers m
    mailer a 10.0.0.1:25 auth plain user u password SECRET
userlist L
    user bob insecure-password SECRET
webhook w
    url https://example.com/x
    secret SECRET
nats n
    url nats://127.0.0.1:4222
    password SECRET
    token SECRET
frontend stats
    mode http
    bind :8404
    timeout client 1s
    stats auth admin:SECRET
`, "SECRET", secret)
	cfg, err := Parse("s.cfg", []byte(good), Options{Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(cfg)
	if strings.Contains(string(out), secret) {
		t.Errorf("secret found in JSON: %s", out)
	}
	if cfg.Mailers[0].Mailers[0].Password != secret || cfg.Webhooks[0].Secret != secret || cfg.NATS[0].Token != secret ||
		cfg.Proxies[0].Stats.Auths[0].Password != secret || cfg.Userlists[0].Users[0].Password != secret {
		t.Error("a secret was not kept in the model")
	}
	bad := strings.ReplaceAll(`mailers m
    mailer a 10.0.0.1:25 user u password SECRET
    mailer b 10.0.0.1:25 tls bogus auth plain user u password SECRET
    mailer c 10.0.0.1 auth plain user u password SECRET
nats n
    password SECRET extra
webhook w
    secret SECRET extra
`, "SECRET", secret)
	_, err = Parse("s.cfg", []byte(bad), Options{Env: map[string]string{}})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("secret found in error text:\n%v", err)
	}
}

// fillAll sets every field reachable from v to a non-zero value.
func fillAll(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 6 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), depth+1)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				fillAll(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(v.Index(0), depth+1)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fillAll(v.Index(i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(k, depth+1)
		fillAll(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		v.SetUint(1)
	}
}

// assertNoAlias fails when a and b share a pointer, slice array or map.
func assertNoAlias(t *testing.T, a, b reflect.Value, path string) {
	t.Helper()
	switch a.Kind() {
	case reflect.Pointer, reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			t.Errorf("%s is shared", path)
			return
		}
		if a.Kind() == reflect.Pointer && !a.IsNil() {
			assertNoAlias(t, a.Elem(), b.Elem(), path)
		}
		if a.Kind() == reflect.Map && !a.IsNil() {
			for _, k := range a.MapKeys() {
				assertNoAlias(t, a.MapIndex(k), b.MapIndex(k), path+"[k]")
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			t.Errorf("%s is shared", path)
			return
		}
		for i := 0; i < a.Len(); i++ {
			assertNoAlias(t, a.Index(i), b.Index(i), path+"[i]")
		}
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			assertNoAlias(t, a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)
		}
	}
}

func TestCloneProxyNoAliasing(t *testing.T) {
	src := &Proxy{}
	fillAll(reflect.ValueOf(src).Elem(), 0)
	cp := cloneProxy(src)
	if !reflect.DeepEqual(src, cp) {
		t.Fatal("clone differs from the original")
	}
	assertNoAlias(t, reflect.ValueOf(src), reflect.ValueOf(cp), "Proxy")
}

func TestInheritedProxiesAreIndependent(t *testing.T) {
	cfg, err := Parse("i.cfg", []byte(`defaults web
    mode http
    timeout connect 1s
    timeout server 1s
    http-request set-header X-A 1
    default-server check inter 3s
    errorfile 503 testdata/errors/503.http
backend a
    server s 10.0.0.1:80
backend b
    server s 10.0.0.2:80
`), Options{Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	a, b, d := cfg.Proxies[0], cfg.Proxies[1], cfg.Defaults[0]
	a.HTTPRequest[0].Words[0] = "changed"
	a.DefaultServer.Inter = time.Hour
	a.ErrorFiles[503] = "changed"
	for _, px := range []*Proxy{b, d} {
		if px.HTTPRequest[0].Words[0] != "set-header" || px.DefaultServer.Inter != 3*time.Second || px.ErrorFiles[503] != "testdata/errors/503.http" {
			t.Errorf("%s '%s' shares data with backend 'a'", px.Kind, px.Name)
		}
	}
}

func TestHelpers(t *testing.T) {
	cfg, err := Parse("h.cfg", []byte(`defaults web
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
    option http-server-close
defaults web
    mode tcp
frontend fe from web
    bind :80
    option httpclose
backend be
    server s1 10.0.0.1:80
`), Options{Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	fe, be := cfg.Proxy("fe"), cfg.Proxy("be")
	if fe == nil || be == nil || cfg.Proxy("nope") != nil {
		t.Fatal("Proxy lookup failed")
	}
	if be.Server("s1") == nil || be.Server("s2") != nil {
		t.Error("Server lookup failed")
	}
	if d := cfg.NamedDefaults("web"); d != cfg.Defaults[1] || cfg.NamedDefaults("") != nil {
		t.Error("NamedDefaults does not return the last section of that name")
	}
	if fe.Mode != "tcp" || fe.Timeouts.Client != 0 {
		t.Errorf("'from web' did not use the most recent 'web' section: mode %q", fe.Mode)
	}
	if got := EffectiveHTTPConnMode(fe, be); got != "close" {
		t.Errorf("EffectiveHTTPConnMode = %q, want close", got)
	}
	if got := EffectiveHTTPConnMode(nil, be); got != "keep-alive" {
		t.Errorf("EffectiveHTTPConnMode(nil, be) = %q, want keep-alive", got)
	}
	c := be.Clone()
	c.Servers[0].Name = "x"
	if be.Servers[0].Name != "s1" {
		t.Error("Clone shares servers")
	}
}

func TestParseFilesMissingLF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.cfg")
	writeFile(t, path, "global\n    maxconn 10")
	cfg, err := ParseFiles([]string{path}, Options{Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].String() != "parsing ["+path+":2] : Missing LF on last line, file might have been truncated at position 15." {
		t.Errorf("warnings = %+v", cfg.Warnings)
	}
}
