package runtimeapi

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		line    string
		want    [][]string
		pattern string
		payload bool
	}{
		{name: "one command", line: "show info", want: [][]string{{"show", "info"}}},
		{name: "spaces and tabs", line: "  set \t weight   be/s1  50% ", want: [][]string{{"set", "weight", "be/s1", "50%"}}},
		{name: "chained", line: "show info;show stat ; help", want: [][]string{{"show", "info"}, {"show", "stat"}, {"help"}}},
		{name: "escaped semicolon", line: `echo a\;b;echo c`, want: [][]string{{"echo", "a;b"}, {"echo", "c"}}},
		{name: "escaped backslash then separator", line: `echo a\\;echo b`, want: [][]string{{"echo", `a\`}, {"echo", "b"}}},
		{name: "escaped space", line: `echo a\ \ b c`, want: [][]string{{"echo", "a  b", "c"}}},
		{name: "escaped letter", line: `echo \x`, want: [][]string{{"echo", "x"}}},
		{name: "trailing backslash", line: `echo a\`, want: [][]string{{"echo", "a"}}},
		{name: "empty commands skipped", line: ";; ;show info;", want: [][]string{{"show", "info"}}},
		{name: "empty line", line: "", want: nil},
		{name: "payload", line: "set ssl cert x <<", want: [][]string{{"set", "ssl", "cert", "x"}}, payload: true},
		{name: "payload pattern", line: "add map m <<EOF", want: [][]string{{"add", "map", "m"}}, pattern: "EOF", payload: true},
		{name: "payload on last command", line: "show info; add map m <<", want: [][]string{{"show", "info"}, {"add", "map", "m"}}, payload: true},
		{name: "escaped marker is an argument", line: `echo \<<`, want: [][]string{{"echo", "<<"}}},
		{name: "marker alone", line: "<<", want: nil, payload: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs, pat, want := parseLine(tc.line)
			var got [][]string
			for _, r := range reqs {
				got = append(got, r.Args)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("args %q, want %q", got, tc.want)
			}
			if want != tc.payload || pat != tc.pattern {
				t.Fatalf("payload %v %q, want %v %q", want, pat, tc.payload, tc.pattern)
			}
			if tc.payload && len(reqs) > 0 && !reqs[len(reqs)-1].HasPayload {
				t.Fatalf("last request not marked for payload")
			}
		})
	}
}

func TestParseLineArgLimit(t *testing.T) {
	line := "echo" + strings.Repeat(" w", 100)
	reqs, _, _ := parseLine(line)
	if len(reqs) != 1 || len(reqs[0].Args) != maxArgs {
		t.Fatalf("got %d args, want %d", len(reqs[0].Args), maxArgs)
	}
	if last := reqs[0].Args[maxArgs-1]; !strings.HasPrefix(last, "w w") {
		t.Fatalf("the last argument keeps the rest of the line, got %q", last)
	}
}

func TestFrame(t *testing.T) {
	for in, want := range map[string]string{
		"":            "\n",
		"x":           "x\n\n",
		"x\n":         "x\n\n",
		"a\n\nb\n":    "a\nb\n\n",
		"\n\na\r\n\n": "a\n\n",
	} {
		if got := string(frame([]byte(in))); got != want {
			t.Errorf("frame(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseLine checks that the parser never panics, that no word of a
// command is empty, and that framing any reply gives exactly one final
// empty line.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"show info", `echo a\;b;echo c`, "add map m <<EOF", "<<", `\`, ";;", "a\\ b\tc", "x <<\\", "\xff\\;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		reqs, _, _ := parseLine(line)
		for _, r := range reqs {
			if len(r.Args) == 0 || len(r.Args) > maxArgs {
				t.Fatalf("bad arg count %d for %q", len(r.Args), line)
			}
		}
		out := string(frame([]byte(line)))
		if !strings.HasSuffix(out, "\n") || strings.Contains(strings.TrimSuffix(out, "\n"), "\n\n") {
			t.Fatalf("bad framing of %q: %q", line, out)
		}
		_ = utf8.ValidString(out)
	})
}
