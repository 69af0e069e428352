package proxy

import "testing"

func TestParseStatsRequest(t *testing.T) {
	cases := []struct {
		rest string
		want statsRequest
	}{
		{"", statsRequest{}},
		{";csv", statsRequest{csv: true}},
		{";csv;norefresh", statsRequest{csv: true, norefresh: true}},
		{";up;st=DONE", statsRequest{up: true, status: "DONE"}},
		{"/x;scope=ap p", statsRequest{filter: "ap"}},
		{";scope=a\r\nb", statsRequest{filter: "a"}},
		{"cs;v", statsRequest{}},
	}
	for _, c := range cases {
		if got := parseStatsRequest([]byte(c.rest)); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.rest, got, c.want)
		}
	}
	r := statsRequest{up: true, norefresh: true, filter: "app"}
	if f := r.flags(); f != ";up;norefresh;scope=app" {
		t.Errorf("flags %q", f)
	}
}

func TestStatsHumanAndClasses(t *testing.T) {
	for s, want := range map[int64]string{0: "0s", 59: "59s", 61: "1m01s", 3600: "1h00m", 3723: "1h02m", 90000: "1d1h", -5: "0s"} {
		if got := humanSecs(s); got != want {
			t.Errorf("humanSecs(%d) = %q, want %q", s, got, want)
		}
	}
	act, bck := &Server{}, &Server{backup: true}
	for status, want := range map[string][2]string{
		"UP": {"up", "bup"}, "UP 1/3": {"goingdown", "bgoingdown"}, "DOWN": {"down", "down"},
		"DOWN 1/2": {"goingup", "goingup"}, "DOWN (agent)": {"down", "down"}, "MAINT (via a/b)": {"maint", "maint"},
		"DRAIN (agent)": {"drain", "drain"}, "NOLB 2/3": {"nolb", "nolb"}, "no check": {"nocheck", "nocheck"},
	} {
		if a, b := rowClass(act, status), rowClass(bck, status); a != want[0] || b != want[1] {
			t.Errorf("%s: %s/%s, want %v", status, a, b, want)
		}
	}
}
