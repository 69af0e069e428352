package config

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the JSON expectations of testdata/*.cfgtest")

// goldenSep separates the configuration from the expectation in a .cfgtest file.
const goldenSep = "\n----------\n"

// goldenEnv is the environment every golden configuration starts from.
var goldenEnv = map[string]string{
	"HOME":             "/home/moonbus",
	"DEMO_WEBHOOK_URL": "https://webhook.example.com/hook",
	"LISTEN_ADDRS":     "127.0.0.1:8080 127.0.0.1:8081",
	"EMPTY":            "",
	"MAILER_PASSWORD":  "hunter2",
}

// TestGolden parses each testdata/*.cfgtest file: a configuration, a line of
// dashes, then either the expected JSON of the parsed Config or one or more
// "error: <substring>" lines that must all appear in the error text.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.cfgtest")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Errorf("only %d golden files, want at least 40", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".cfgtest")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(data), goldenSep)
			if !ok {
				t.Fatalf("%s: missing %q separator", path, strings.TrimSpace(goldenSep))
			}
			cfg, perr := Parse(name+".cfg", []byte(input), Options{Env: goldenEnv})
			if strings.HasPrefix(want, "error: ") {
				if perr == nil {
					t.Fatalf("no error, want %q", strings.TrimSpace(want))
				}
				for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
					sub := strings.TrimPrefix(line, "error: ")
					if !strings.Contains(perr.Error(), sub) {
						t.Errorf("error does not contain %q:\n%v", sub, perr)
					}
				}
				return
			}
			if perr != nil {
				t.Fatalf("unexpected error:\n%v", perr)
			}
			got, err := json.MarshalIndent(cfg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				out := input + goldenSep + string(got) + "\n"
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if strings.TrimSpace(want) != string(got) {
				t.Errorf("JSON differs from %s (run go test -run TestGolden -update to rewrite)\n--- got:\n%s", path, got)
			}
		})
	}
}
