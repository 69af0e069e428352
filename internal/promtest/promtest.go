// Package promtest parses the Prometheus text exposition format (0.0.4)
// strictly, for tests of the prometheus-exporter service: only tests import
// it.
//
// Parse rejects what a lenient scraper would let through: a sample without
// a preceding "# TYPE" line for its family, a TYPE or HELP given twice or
// after the family's first sample, a family whose samples are not grouped,
// a metric or label name outside [a-zA-Z_:][a-zA-Z0-9_:]* (labels without
// ':'), a label value with an unknown escape or no closing quote, a
// duplicate label or series, a value that is not a float, an unknown TYPE,
// blank lines, and a negative counter.
package promtest

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Sample is one series of a family.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Family is one metric family.
type Family struct {
	Name    string
	Type    string
	Help    string
	Samples []Sample
}

// Get returns the value of the sample whose labels include every given
// name=value pair (kv alternates names and values).
func (f *Family) Get(kv ...string) (float64, bool) {
	if f == nil {
		return 0, false
	}
	for _, s := range f.Samples {
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if s.Labels[kv[i]] != kv[i+1] {
				ok = false
				break
			}
		}
		if ok {
			return s.Value, true
		}
	}
	return 0, false
}

// Parse parses a whole exposition and returns its families by name.
func Parse(text string) (map[string]*Family, error) {
	fams := map[string]*Family{}
	series := map[string]bool{}
	closed := map[string]bool{} // families whose samples ended
	current := ""
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		lines = nil
	}
	get := func(name string) *Family {
		f := fams[name]
		if f == nil {
			f = &Family{Name: name}
			fams[name] = f
		}
		return f
	}
	for n, line := range lines {
		ln := n + 1
		if line == "" {
			return nil, fmt.Errorf("line %d: blank line", ln)
		}
		if strings.HasPrefix(line, "#") {
			fields := strings.SplitN(line, " ", 4)
			if len(fields) < 2 || (fields[1] != "HELP" && fields[1] != "TYPE") {
				continue // a plain comment
			}
			if len(fields) < 3 || !validName(fields[2], true) {
				return nil, fmt.Errorf("line %d: bad metric name in %q", ln, line)
			}
			f := get(fields[2])
			if len(f.Samples) > 0 {
				return nil, fmt.Errorf("line %d: %s for %s after its samples", ln, fields[1], f.Name)
			}
			rest := ""
			if len(fields) == 4 {
				rest = fields[3]
			}
			if fields[1] == "HELP" {
				if f.Help != "" {
					return nil, fmt.Errorf("line %d: second HELP for %s", ln, f.Name)
				}
				h, err := unescape(rest, false)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", ln, err)
				}
				f.Help = h
				continue
			}
			if f.Type != "" {
				return nil, fmt.Errorf("line %d: second TYPE for %s", ln, f.Name)
			}
			switch rest {
			case "counter", "gauge", "untyped", "summary", "histogram":
			default:
				return nil, fmt.Errorf("line %d: unknown type %q", ln, rest)
			}
			f.Type = rest
			continue
		}
		s, key, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: %q", ln, err, line)
		}
		fam := familyOf(s.Name, fams)
		f := fams[fam]
		if f == nil || f.Type == "" {
			return nil, fmt.Errorf("line %d: sample %s has no preceding TYPE", ln, s.Name)
		}
		if fam != current {
			if closed[fam] {
				return nil, fmt.Errorf("line %d: samples of %s are not grouped", ln, fam)
			}
			if current != "" {
				closed[current] = true
			}
			current = fam
		}
		if series[key] {
			return nil, fmt.Errorf("line %d: duplicate series %s", ln, key)
		}
		series[key] = true
		if f.Type == "counter" && s.Value < 0 {
			return nil, fmt.Errorf("line %d: negative counter %s", ln, key)
		}
		f.Samples = append(f.Samples, s)
	}
	return fams, nil
}

// familyOf maps histogram and summary sample names to their family.
func familyOf(name string, fams map[string]*Family) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if f := fams[base]; f != nil && (f.Type == "histogram" || f.Type == "summary") {
				return base
			}
		}
	}
	return name
}

func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (c == ':' && colon) || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// parseSample parses "name{l="v",...} value [timestamp]"; key identifies
// the series (name and sorted labels).
func parseSample(line string) (Sample, string, error) {
	var s Sample
	i := 0
	for i < len(line) && line[i] != '{' && line[i] != ' ' {
		i++
	}
	s.Name = line[:i]
	if !validName(s.Name, true) {
		return s, "", fmt.Errorf("bad metric name %q", s.Name)
	}
	s.Labels = map[string]string{}
	if i < len(line) && line[i] == '{' {
		i++
		for {
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			j := i
			for j < len(line) && line[j] != '=' {
				j++
			}
			name := line[i:j]
			if !validName(name, false) {
				return s, "", fmt.Errorf("bad label name %q", name)
			}
			if j+1 >= len(line) || line[j+1] != '"' {
				return s, "", fmt.Errorf("label %s: value not quoted", name)
			}
			k := j + 2
			var b strings.Builder
			closedQ := false
			for k < len(line) {
				c := line[k]
				if c == '\\' {
					if k+1 >= len(line) {
						return s, "", fmt.Errorf("label %s: dangling escape", name)
					}
					switch line[k+1] {
					case '\\':
						b.WriteByte('\\')
					case '"':
						b.WriteByte('"')
					case 'n':
						b.WriteByte('\n')
					default:
						return s, "", fmt.Errorf("label %s: unknown escape \\%c", name, line[k+1])
					}
					k += 2
					continue
				}
				if c == '"' {
					closedQ = true
					k++
					break
				}
				if c == '\n' {
					return s, "", fmt.Errorf("label %s: raw newline", name)
				}
				b.WriteByte(c)
				k++
			}
			if !closedQ {
				return s, "", fmt.Errorf("label %s: no closing quote", name)
			}
			if _, dup := s.Labels[name]; dup {
				return s, "", fmt.Errorf("duplicate label %s", name)
			}
			s.Labels[name] = b.String()
			i = k
			if i < len(line) && line[i] == ',' {
				i++
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return s, "", fmt.Errorf("expected ',' or '}' after label %s", name)
		}
	}
	if i >= len(line) || line[i] != ' ' {
		return s, "", fmt.Errorf("no value")
	}
	parts := strings.Split(line[i+1:], " ")
	if len(parts) < 1 || len(parts) > 2 || parts[0] == "" {
		return s, "", fmt.Errorf("bad value/timestamp")
	}
	v, err := parseValue(parts[0])
	if err != nil {
		return s, "", err
	}
	s.Value = v
	if len(parts) == 2 {
		if _, err := strconv.ParseInt(parts[1], 10, 64); err != nil {
			return s, "", fmt.Errorf("bad timestamp %q", parts[1])
		}
	}
	names := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	key := s.Name
	for _, k := range names {
		key += "," + k + "=" + strconv.Quote(s.Labels[k])
	}
	return s, key, nil
}

func parseValue(v string) (float64, error) {
	switch v {
	case "NaN":
		return math.NaN(), nil
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("bad value %q", v)
	}
	return f, nil
}

// unescape decodes a HELP text (\\ and \n) or a label value (also \").
func unescape(s string, label bool) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("dangling escape")
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !label {
				return "", fmt.Errorf("unknown escape \\\"")
			}
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}
