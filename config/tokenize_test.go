package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	env := map[string]string{
		"HOME": "/home/u", "EMPTY": "", "LIST": "  a  b ", "ONE": "x", ".LINE": "7",
	}
	tests := []struct {
		name string
		line string
		want []string
	}{
		{name: "empty", line: "", want: nil},
		{name: "comment only", line: "   # comment", want: nil},
		{name: "blanks", line: " a  b\tc ", want: []string{"a", "b", "c"}},
		{name: "CR at end", line: "a b\r", want: []string{"a", "b"}},
		{name: "hash ends the line", line: "a#b c", want: []string{"a"}},
		{name: "escaped space", line: `a\ b c`, want: []string{"a b", "c"}},
		{name: "escaped hash", line: `\#x`, want: []string{"#x"}},
		{name: "escaped backslash", line: `a\\b`, want: []string{`a\b`}},
		{name: "escaped quotes", line: `\'\"`, want: []string{`'"`}},
		{name: "control escapes", line: `a\tb\nc\rd`, want: []string{"a\tb\nc\rd"}},
		{name: "hex escapes", line: `\x41\x62`, want: []string{"Ab"}},
		{name: "other escapes kept", line: `\1 \. \d`, want: []string{`\1`, `\.`, `\d`}},
		{name: "trailing backslash", line: `a\`, want: []string{`a\`}},
		{name: "double quotes", line: `"a b # c" d`, want: []string{"a b # c", "d"}},
		{name: "single quotes", line: `'a "b" \n $HOME'`, want: []string{`a "b" \n $HOME`}},
		{name: "pieces join", line: `"%{+Q}o %t"' %s'\ %{-Q}r`, want: []string{"%{+Q}o %t %s %{-Q}r"}},
		{name: "empty quotes", line: `a "" '' b`, want: []string{"a", "", "", "b"}},
		{name: "quote inside other quotes", line: `"it's" 'say "hi"'`, want: []string{"it's", `say "hi"`}},
		{name: "escapes in double quotes", line: `"a\"b\tc\$d"`, want: []string{"a\"b\tc$d"}},
		{name: "escaped dollar outside double quotes is kept", line: `\$d '\$e'`, want: []string{`\$d`, `\$e`}},
		{name: "unquoted dollar stays", line: `$HOME ${HOME}`, want: []string{"$HOME", "${HOME}"}},
		{name: "var", line: `"$HOME/x"`, want: []string{"/home/u/x"}},
		{name: "braced var", line: `"${HOME}x"`, want: []string{"/home/ux"}},
		{name: "var stops at non-name char", line: `"$HOME.d"`, want: []string{"/home/u.d"}},
		{name: "unset var", line: `a"${NOPE}"b`, want: []string{"ab"}},
		{name: "unset var alone is an empty word", line: `"${NOPE}" c`, want: []string{"", "c"}},
		{name: "default when unset", line: `"${NOPE-def ault}"`, want: []string{"def ault"}},
		{name: "no default when set empty", line: `"[${EMPTY-def}]"`, want: []string{"[]"}},
		{name: "word expansion", line: `"${LIST[*]}"`, want: []string{"a", "b"}},
		{name: "word expansion joins prefix and suffix", line: `x"${LIST[*]}"y`, want: []string{"x", "a", "b", "y"}},
		{name: "word expansion glues to neighbours", line: `x"${ONE[*]}"y`, want: []string{"xxy"}},
		{name: "empty word expansion is dropped", line: `a "${EMPTY[*]}" b`, want: []string{"a", "b"}},
		{name: "unset word expansion with default", line: `"${NOPE[*]-p q}"`, want: []string{"p", "q"}},
		{name: "pseudo variable", line: `"line ${.LINE}"`, want: []string{"line 7"}},
		{name: "hex escape gives a hash, not a comment", line: `a\x23b`, want: []string{"a#b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tokenize(tt.line, env)
			if err != nil {
				t.Fatalf("Tokenize(%q): %v", tt.line, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Tokenize(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestTokenizeErrors(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{name: "unterminated double quote", line: `a "b`, want: "unmatched quote at position 3"},
		{name: "unterminated single quote", line: `a 'b`, want: "unmatched quote"},
		{name: "bad first char", line: `"$1"`, want: "forbidden first char in environment variable name at position 3"},
		{name: "lone dollar", line: `"$"`, want: "forbidden first char"},
		{name: "unclosed brace", line: `"${A"`, want: "unmatched brace in environment variable name at position 3"},
		{name: "unclosed default", line: `"${A-x"`, want: "unmatched brace in environment variable name"},
		{name: "bad word expansion", line: `"${A[x]}"`, want: "truncated or invalid word expansion sequence at position 5"},
		{name: "unknown pseudo variable", line: `"${.FOO}"`, want: "unsupported internal variable '.FOO'"},
		{name: "short hex", line: `\x4`, want: "truncated or invalid hexadecimal sequence at position 1"},
		{name: "bad hex", line: `ab\xZZ`, want: "truncated or invalid hexadecimal sequence at position 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Tokenize(tt.line, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Tokenize(%q) error = %v, want %q", tt.line, err, tt.want)
			}
		})
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "none", in: "", want: nil},
		{name: "one", in: "a", want: []string{"a"}},
		{name: "two", in: "a,b", want: []string{"a", "b"}},
		{name: "spaces kept", in: "a, b ", want: []string{"a", " b "}},
		{name: "empty args", in: "a,,", want: []string{"a", "", ""}},
		{name: "double quotes protect commas", in: `"a,b",c`, want: []string{"a,b", "c"}},
		{name: "single quotes protect everything", in: `'a,\b',c`, want: []string{`a,\b`, "c"}},
		{name: "escaped comma", in: `a\,b`, want: []string{"a,b"}},
		{name: "escaped quote", in: `\"x\"`, want: []string{`"x"`}},
		{name: "regex group", in: `"(a|b)",x,g`, want: []string{"(a|b)", "x", "g"}},
		{name: "hash, dollar and hex not processed again", in: `\#x,\$y,\x41`, want: []string{`\#x`, `\$y`, `\x41`}},
		{name: "other escapes kept", in: `\.\d`, want: []string{`\.\d`}},
		{name: "control escapes", in: `a\nb\tc`, want: []string{"a\nb\tc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitArgs(tt.in)
			if err != nil {
				t.Fatalf("SplitArgs(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	for _, bad := range []string{`"a`, `'a`, `a,"b`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q): no error for an unterminated quote", bad)
		}
	}
}

func TestEvalCond(t *testing.T) {
	env := condEnv{
		lookup:  func(n string) (string, bool) { v, ok := map[string]string{"A": "1"}[n]; return v, ok },
		version: "3.2.1",
	}
	tests := []struct {
		words []string
		want  bool
	}{
		{nil, false},
		{[]string{"0"}, false},
		{[]string{"1"}, true},
		{[]string{"-3"}, true},
		{[]string{"!", "0"}, true},
		{[]string{"defined(A)"}, true},
		{[]string{"defined(B)"}, false},
		{[]string{"streq(a,a)", "&&", "strneq(a,b)"}, true},
		{[]string{"strstr(haystack,st)"}, true},
		{[]string{"streq(a,", "a)"}, false}, // re-joined with a space: " a" != "a"
		{[]string{"0", "||", "1", "&&", "0"}, false},
		{[]string{"1", "||", "1", "&&", "0"}, true},
		{[]string{"(1", "||", "1)", "&&", "0"}, false},
		{[]string{"version_atleast(3.2)"}, true},
		{[]string{"version_atleast(3.2.2)"}, false},
		{[]string{"version_before(3.10)"}, true},
		{[]string{"version_atleast(2.8-dev1)"}, true},
		{[]string{"feature(LUA)", "&&", "!feature(QUIC)"}, true},
		{[]string{"enabled(EPOLL)"}, true},
		{[]string{"openssl_version_atleast(1.0.0)"}, false},
		{[]string{"fips_mode()"}, false},
	}
	for _, tt := range tests {
		got, err := evalCond(tt.words, env)
		if err != nil {
			t.Errorf("evalCond(%q): %v", tt.words, err)
			continue
		}
		if got != tt.want {
			t.Errorf("evalCond(%q) = %v, want %v", tt.words, got, tt.want)
		}
	}
	for _, bad := range [][]string{{"yes"}, {"defined(A"}, {"(1"}, {"1", "&&"}, {"1", "2"}, {"streq(a)"}, {"defined"}} {
		if _, err := evalCond(bad, env); err == nil {
			t.Errorf("evalCond(%q): no error", bad)
		}
	}
}
