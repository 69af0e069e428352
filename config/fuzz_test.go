package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		"", "a b c", `"a b" 'c d' e\ f`, `"${HOME}" "${X-def}" "${L[*]}" "$Y"`, `\x41\x4`,
		`"%{+Q}o %t"' %s'\ %{-Q}r`, `"${.LINE}"`, `"${A[*]-a b}"`, `#comment`, `"\`, `'`,
	} {
		f.Add(s)
	}
	env := map[string]string{"HOME": "/h", "L": " a b ", ".LINE": "3"}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Tokenize(line, env)
		if err != nil {
			return
		}
		for _, w := range words {
			_, _ = SplitArgs(w)
		}
		_, _ = evalCond(words, condEnv{lookup: func(string) (string, bool) { return "", false }, version: "3.2"})
	})
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.cfgtest")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		input, _, _ := strings.Cut(string(data), goldenSep)
		f.Add(input)
	}
	f.Fuzz(func(t *testing.T, input string) {
		cfg, err := Parse("fuzz.cfg", []byte(input), Options{Env: map[string]string{"A": "1"}})
		if cfg == nil {
			t.Fatal("Parse returned a nil Config")
		}
		if err == nil {
			for _, px := range cfg.Proxies {
				if px.Name == "" || px.ID == 0 {
					t.Fatalf("unresolved proxy: %+v", px)
				}
			}
		}
		for _, line := range strings.Split(input, "\n") {
			if words, err := Tokenize(line, nil); err == nil {
				_, _ = ParseServerParams(words, NewServerParams(), true)
			}
		}
	})
}

// BenchmarkParse measures parsing a typical configuration (testdata/rules).
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/rules.cfgtest")
	if err != nil {
		b.Fatal(err)
	}
	input, _, _ := strings.Cut(string(data), goldenSep)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("rules.cfg", []byte(input), Options{Env: map[string]string{}}); err != nil {
			b.Fatal(err)
		}
	}
}
