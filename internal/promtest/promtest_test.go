package promtest

import (
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	text := "# HELP a_total Things, with a \\\\ and a\\nnewline.\n# TYPE a_total counter\n" +
		"a_total{x=\"1\",y=\"q\\\"\\\\\\n\"} 3\na_total{x=\"2\"} 1e+20 1700000000\n" +
		"# a comment\n# TYPE b gauge\nb NaN\nb{s=\"\"} -Inf\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n"
	fams, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := fams["a_total"].Get("y", "q\"\\\n"); !ok || v != 3 {
		t.Fatalf("escaped label: %v %v", v, ok)
	}
	if fams["a_total"].Help != "Things, with a \\ and a\nnewline." || len(fams["h"].Samples) != 3 {
		t.Fatalf("families: %+v", fams)
	}
}

func TestParseRejects(t *testing.T) {
	for name, text := range map[string]string{
		"no TYPE":           "a 1\n",
		"TYPE after sample": "# TYPE a gauge\na 1\n# TYPE a gauge\n",
		"two TYPE":          "# TYPE a gauge\n# TYPE a counter\na 1\n",
		"unknown TYPE":      "# TYPE a number\na 1\n",
		"not grouped":       "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 2\n",
		"bad name":          "# TYPE 1a gauge\n1a 1\n",
		"bad label name":    "# TYPE a gauge\na{1x=\"1\"} 1\n",
		"unquoted label":    "# TYPE a gauge\na{x=1} 1\n",
		"unknown escape":    "# TYPE a gauge\na{x=\"\\t\"} 1\n",
		"open quote":        "# TYPE a gauge\na{x=\"1} 1\n",
		"duplicate label":   "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",
		"duplicate series":  "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
		"bad value":         "# TYPE a gauge\na one\n",
		"no value":          "# TYPE a gauge\na\n",
		"negative counter":  "# TYPE a counter\na -1\n",
		"blank line":        "# TYPE a gauge\n\na 1\n",
		"no final newline":  "# TYPE a gauge\na 1",
	} {
		if _, err := Parse(text); err == nil {
			t.Errorf("%s: accepted %q", name, strings.TrimSpace(text))
		}
	}
}
