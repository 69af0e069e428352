package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeCfg(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "app.cfg")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckUnknownKeyword(t *testing.T) {
	p := writeCfg(t, "defaults\n    mode http\n\nbackend be\n    server s1 127.0.0.1:80\n    frobnicate yes\n")
	var out, errb bytes.Buffer
	code := run([]string{"-c", "-f", p}, &out, &errb)
	if code == 0 {
		t.Fatal("exit code 0 for an unknown keyword")
	}
	want := "parsing [" + p + ":6] : unknown keyword 'frobnicate' in 'backend' section"
	if !strings.Contains(errb.String(), want) {
		t.Fatalf("stderr:\n%s\nwant it to contain %q", errb.String(), want)
	}
	if !strings.Contains(errb.String(), "[ALERT]    (") {
		t.Fatalf("HAProxy message format missing:\n%s", errb.String())
	}
}

func TestCheckValid(t *testing.T) {
	p := writeCfg(t, "global\n    daemon\ndefaults\n    mode http\nfrontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s1 127.0.0.1:80\n")
	var out, errb bytes.Buffer
	if code := run([]string{"-c", "-f", p}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "Configuration file is valid") {
		t.Fatalf("stdout: %q", out.String())
	}
	if !strings.Contains(errb.String(), "[WARNING]  (") || !strings.Contains(errb.String(), "daemon") {
		t.Fatalf("expected a warning about 'daemon':\n%s", errb.String())
	}
}

func TestVersionFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-v"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "Moonbus version ") {
		t.Fatalf("-v: %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-vv"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Feature list") {
		t.Fatalf("-vv: %d %q", code, out.String())
	}
}

func TestNoConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code == 0 {
		t.Fatal("exit 0 without -f")
	}
}

// TestCheckBadCronSpec: -c loads the Lua scripts, so a bad
// core.register_cron spec fails the check and the message names it.
func TestCheckBadCronSpec(t *testing.T) {
	dir := t.TempDir()
	lua := filepath.Join(dir, "tasks.lua")
	if err := os.WriteFile(lua, []byte("core.register_cron(\"*/5 * * *\", function() end)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := writeCfg(t, "global\n    lua-load "+lua+"\ndefaults\n    mode http\nbackend be\n    server s1 127.0.0.1:80\n")
	var out, errb bytes.Buffer
	if code := run([]string{"-c", "-f", p}, &out, &errb); code == 0 {
		t.Fatalf("exit 0 for a bad cron spec\n%s%s", out.String(), errb.String())
	}
	for _, want := range []string{"[ALERT]", p + ":2", "*/5 * * *"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("stderr does not name %q:\n%s", want, errb.String())
		}
	}
}
