package bus

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestEscapeToken(t *testing.T) {
	cases := []struct{ in, out string }{
		{"web1", "web1"},
		{"", "%"},
		{"a.b", "a%2Eb"},
		{"a b", "a%20b"},
		{"*", "%2A"},
		{">", "%3E"},
		{"50%", "50%25"},
		{"tab\there", "tab%09here"},
		{"x\x7f", "x%7F"},
		{"é-ok_:", "é-ok_:"},
		{"a.*>% ", "a%2E%2A%3E%25%20"},
	}
	for _, c := range cases {
		if got := EscapeToken(c.in); got != c.out {
			t.Errorf("EscapeToken(%q) = %q, want %q", c.in, got, c.out)
		}
		back, err := UnescapeToken(c.out)
		if err != nil || back != c.in {
			t.Errorf("UnescapeToken(%q) = %q, %v; want %q", c.out, back, err, c.in)
		}
		if ValidSubject("event."+EscapeToken(c.in), false) != nil {
			t.Errorf("escaped %q is not a valid token", c.in)
		}
	}
	if s, err := UnescapeToken("a%2eb"); err != nil || s != "a.b" {
		t.Errorf("lower-case hex: %q %v", s, err)
	}
	for _, bad := range []string{"%2", "a%", "%zz", "%%", "a%g0"} {
		if _, err := UnescapeToken(bad); !errors.Is(err, ErrBadEscape) {
			t.Errorf("UnescapeToken(%q) err = %v", bad, err)
		}
	}
}

func TestSubject(t *testing.T) {
	cases := []struct {
		e    *Event
		want string
	}{
		{&Event{Type: ServerDown, Server: &ServerRef{Name: "s1", ProxyName: "be"}}, "event.SERVER_DOWN.be.s1"},
		{&Event{Type: ServerUp, Server: &ServerRef{Name: "s.1 x", ProxyName: "my.be"}}, "event.SERVER_UP.my%2Ebe.s%2E1%20x"},
		{&Event{Type: BackendDown, Backend: &BackendInfo{ProxyName: "app"}}, "event.BACKEND_DOWN.app"},
		{&Event{Type: BackendUp, Server: &ServerRef{Name: "s", ProxyName: "p"}, Backend: &BackendInfo{ProxyName: "p"}}, "event.BACKEND_UP.p"},
		{&Event{Type: ServerState, Server: &ServerRef{}}, "event.SERVER_STATE.%.%"},
		{&Event{Type: ServerAdd}, "event.SERVER_ADD"},
	}
	for _, c := range cases {
		got := Subject(c.e)
		if got != c.want {
			t.Errorf("Subject = %q, want %q", got, c.want)
		}
		if err := ValidSubject(got, false); err != nil {
			t.Errorf("Subject %q invalid: %v", got, err)
		}
	}
}

func TestValidSubject(t *testing.T) {
	cases := []struct {
		s            string
		literal, pat bool
	}{
		{"a", true, true},
		{"a.b.c", true, true},
		{"a.*.c", false, true},
		{"a.>", false, true},
		{">", false, true},
		{"*", false, true},
		{"a.>.c", false, false},
		{"a.b*.c", true, true}, // '*' inside a token is a literal
		{"a.b>", true, true},
		{"", false, false},
		{".", false, false},
		{"a.", false, false},
		{".a", false, false},
		{"a..b", false, false},
		{"a b", false, false},
		{"a\tb", false, false},
		{"a\nb", false, false},
		{"a\x00b", false, false},
		{"a.\x7f", false, false},
		{"é.ü", true, true},
	}
	for _, c := range cases {
		if got := ValidSubject(c.s, false) == nil; got != c.literal {
			t.Errorf("ValidSubject(%q, false) ok=%v want %v", c.s, got, c.literal)
		}
		err := ValidSubject(c.s, true)
		if got := err == nil; got != c.pat {
			t.Errorf("ValidSubject(%q, true) ok=%v want %v", c.s, got, c.pat)
		}
		if err != nil && !errors.Is(err, ErrBadSubject) {
			t.Errorf("error %v does not wrap ErrBadSubject", err)
		}
	}
}

var matchCases = []struct {
	pat, subj string
	want      bool
}{
	{"a.b.c", "a.b.c", true},
	{"a.b.c", "a.b", false},
	{"a.b", "a.b.c", false},
	{"a.*.c", "a.b.c", true},
	{"a.*.c", "a.b.d", false},
	{"a.*", "a.b.c", false},
	{"a.>", "a.b.c", true},
	{"a.>", "a.b", true},
	{"a.>", "a", false},
	{">", "a", true},
	{">", "a.b.c", true},
	{"*", "a", true},
	{"*", "a.b", false},
	{"*.*", "a.b", true},
	{"*.>", "a.b", true},
	{"*.>", "a", false},
	{"a.b*", "a.bx", false},
	{"a.b*", "a.b*", true},
	{"event.SERVER_DOWN.*.*", "event.SERVER_DOWN.be.s1", true},
	{"event.*.be.>", "event.BACKEND_DOWN.be", false},
	{"event.*.be", "event.BACKEND_DOWN.be", true},
	{"a.b", "a.*", false}, // a wildcard subject is not a literal subject
	{"a..b", "a..b", false},
	{"", "", false},
}

func TestMatchSubject(t *testing.T) {
	for _, c := range matchCases {
		if got := MatchSubject(c.pat, c.subj); got != c.want {
			t.Errorf("MatchSubject(%q, %q) = %v, want %v", c.pat, c.subj, got, c.want)
		}
		if got := refMatch(c.pat, c.subj); got != c.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v", c.pat, c.subj, got, c.want)
		}
	}
}

func TestSublist(t *testing.T) {
	var sl Sublist[int]
	pats := []string{"a.b.c", "a.*.c", "a.>", ">", "*.b.*", "a.b.c", "x.y"}
	for i, p := range pats {
		if err := sl.Insert(p, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := sl.Insert("a..b", 99); !errors.Is(err, ErrBadSubject) {
		t.Fatalf("bad pattern: %v", err)
	}
	check := func(subj string, want ...int) {
		t.Helper()
		got := sl.Match(subj)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %v, want %v", subj, got, want)
		}
		if sl.HasInterest(subj) != (len(want) > 0) {
			t.Errorf("HasInterest(%q) = %v", subj, !(len(want) > 0))
		}
	}
	check("a.b.c", 0, 1, 2, 3, 4, 5)
	check("a.x.c", 1, 2, 3)
	check("q.b.r", 3, 4)
	check("x.y", 3, 6)
	check("a", 3)
	check("a.*", nil...)
	if sl.Count() != 7 {
		t.Fatalf("Count = %d", sl.Count())
	}
	if !sl.Remove("a.b.c", 0) {
		t.Fatal("remove")
	}
	check("a.b.c", 1, 2, 3, 4, 5)
	if sl.Remove("a.b.c", 42) || sl.Remove("no.such", 1) || sl.Remove("a..", 1) {
		t.Fatal("removed a missing binding")
	}
	for i, p := range pats {
		if i == 0 {
			continue
		}
		if !sl.Remove(p, i) {
			t.Fatalf("Remove(%q, %d) failed", p, i)
		}
	}
	if sl.Count() != 0 || !sl.root.empty() {
		t.Fatalf("not pruned: count %d root %+v", sl.Count(), sl.root)
	}
	check("a.b.c", nil...)
}

// refMatch is an independent reference: a regular expression built from
// the pattern, after a plain-split validity check.
func refMatch(pattern, subject string) bool {
	valid := func(s string, wc bool) bool {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return false
		}
		toks := strings.Split(s, ".")
		for i, tok := range toks {
			if tok == "" || (!wc && (tok == "*" || tok == ">")) || (tok == ">" && i != len(toks)-1) {
				return false
			}
		}
		return true
	}
	if !valid(pattern, true) || !valid(subject, false) {
		return false
	}
	// Match byte-wise: read every byte as the rune of the same value, so
	// invalid UTF-8 cannot upset the regexp package.
	latin1 := func(s string) string {
		rs := make([]rune, len(s))
		for i := 0; i < len(s); i++ {
			rs[i] = rune(s[i])
		}
		return string(rs)
	}
	pattern, subject = latin1(pattern), latin1(subject)
	var re strings.Builder
	re.WriteString(`^`)
	for i, tok := range strings.Split(pattern, ".") {
		if i > 0 {
			re.WriteString(`\.`)
		}
		switch tok {
		case "*":
			re.WriteString(`[^.]+`)
		case ">":
			re.WriteString(`.+`)
		default:
			re.WriteString(regexp.QuoteMeta(tok))
		}
	}
	re.WriteString(`$`)
	return regexp.MustCompile(re.String()).MatchString(subject)
}

func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.pat, c.subj)
	}
	f.Add("event.*.be%2Ex.>", "event.SERVER_UP.be%2Ex.s1")
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		want := refMatch(pattern, subject)
		if got := MatchSubject(pattern, subject); got != want {
			t.Fatalf("MatchSubject(%q, %q) = %v, reference %v", pattern, subject, got, want)
		}
		var sl Sublist[int]
		if err := sl.Insert(pattern, 1); (err == nil) != (ValidSubject(pattern, true) == nil) {
			t.Fatalf("Insert(%q) err %v disagrees with ValidSubject", pattern, err)
		}
		_ = sl.Insert("other.>", 2)
		got := slices.Contains(sl.Match(subject), 1)
		if got != want {
			t.Fatalf("Sublist match(%q, %q) = %v, reference %v", pattern, subject, got, want)
		}
		if sl.HasInterest(subject) != (want || MatchSubject("other.>", subject)) {
			t.Fatalf("HasInterest(%q) wrong", subject)
		}
		if sl.Remove(pattern, 1) != (ValidSubject(pattern, true) == nil) {
			t.Fatalf("Remove(%q) wrong", pattern)
		}
		if slices.Contains(sl.Match(subject), 1) {
			t.Fatalf("match after remove")
		}
		// Escaped names always form single valid tokens that round-trip.
		tok := EscapeToken(subject)
		if ValidSubject(tok, false) != nil || strings.Contains(tok, ".") {
			t.Fatalf("EscapeToken(%q) = %q is not one token", subject, tok)
		}
		if back, err := UnescapeToken(tok); err != nil || back != subject {
			t.Fatalf("UnescapeToken(EscapeToken(%q)) = %q, %v", subject, back, err)
		}
		if MatchSubject("a.*.b", "a."+tok+".b") != true {
			t.Fatalf("escaped token %q not matched by *", tok)
		}
	})
}
