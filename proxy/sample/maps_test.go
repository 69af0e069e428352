package sample

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func TestMapConverters(t *testing.T) {
	reg := testRegistry(t)
	st := newTestStream(nil)
	tests := []struct{ expr, want string }{
		{`str(example.com),map(testdata/hosts.map)`, "str:be_example"},
		{`str(www.example.com),map_str(testdata/hosts.map)`, "str:be_www"},
		{`str(api.example.com),map(testdata/hosts.map)`, "fail"},
		{`str(api.example.com),map(testdata/hosts.map,be_default)`, "str:be_default"},
		{`str(/static/x.css),map_beg(testdata/paths.map)`, "str:static_be"},
		{`str(/other),map_beg(testdata/paths.map)`, "str:default_be"},
		{`str(/x/api/y),map_sub(testdata/paths.map)`, "str:api_be"},
		{`str(10.1.2.3),map_ip(testdata/ips.map)`, "str:ten-one-two"},
		{`str(10.1.9.9),map_ip(testdata/ips.map)`, "str:ten-one"},
		{`str(10.9.9.9),map_ip(testdata/ips.map)`, "str:private"},
		{`str(8.8.8.8),map_ip(testdata/ips.map)`, "str:world"},
		{`ipv6(2001:db8::7),map_ip(testdata/ips.map)`, "str:doc6"},
		{`ipv6(::ffff:10.1.2.3),map_ip(testdata/ips.map)`, "str:ten-one-two"},
		{`int(150),map_int(testdata/ranges.map)`, "str:mid"},
		{`int(5000),map_int(testdata/ranges.map)`, "str:high"},
		{`int(0),map_int(testdata/ranges.map,none)`, "str:none"},
		{`str(/user/42/profile),map_regm(testdata/rewrite.map)`, "str:/u/profile?id=42"},
		{`str(/user/42/profile),map_reg(testdata/rewrite.map)`, `str:/u/\2?id=\1`},
		{`str(x),map_str_int(testdata/nums.map,7)`, "sint:7"},
		{`str(a),map_str_int(testdata/nums.map)`, "sint:1"},
		{`str(gw),map_str_ip(testdata/addrs.map)`, "ipv4:192.168.0.1"},
		{`str(a.example.com),map_dom(testdata/doms.map)`, "str:dom"},
		{`str(/a/b/c),map_dir(testdata/doms.map)`, "str:dir"},
		{`str(file.jpg),map_end(testdata/doms.map)`, "str:img"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			if got := evalString(t, reg, st, tc.expr); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.expr, got, tc.want)
			}
		})
	}
	if _, err := Compile(`str(x),map_str_int(testdata/hosts.map)`, reg, testCtx()); err == nil || !strings.Contains(err.Error(), "as an integer") {
		t.Fatalf("non-integer values accepted for map_str_int: %v", err)
	}
	if _, err := Compile(`str(x),map_str_int(testdata/nums.map,abc)`, reg, testCtx()); err == nil {
		t.Fatal("bad default accepted")
	}
}

func TestMapRuntimeEdits(t *testing.T) {
	maps := NewMaps()
	m, err := maps.Map("testdata/hosts.map", MatchStr, Str)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Lookup("example.com"); !ok || v != "be_example" {
		t.Fatalf("lookup %q %v", v, ok)
	}
	// The same file opened again is the same reference.
	m2, _ := maps.Map("testdata/hosts.map", MatchBeg, Str)
	if m2.Ref() != m.Ref() {
		t.Fatal("file loaded twice")
	}
	ref := m.Ref()
	if found, err := ref.Set("example.com", "be_new"); err != nil || !found {
		t.Fatal(err)
	}
	if v, _ := m.Lookup("example.com"); v != "be_new" {
		t.Fatalf("after set: %q", v)
	}
	if found, _ := ref.Set("new.example.com", "be_added"); found {
		t.Fatal("Set reported an existing key")
	}
	if v, _ := m.Lookup("new.example.com"); v != "be_added" {
		t.Fatal("Set did not add")
	}
	if !ref.Del("example.com") {
		t.Fatal("Del")
	}
	if _, ok := m.Lookup("example.com"); ok {
		t.Fatal("deleted key still found")
	}
	ref.Clear()
	if _, ok := m.Lookup("www.example.com"); ok || len(ref.Entries()) != 0 {
		t.Fatal("Clear")
	}
	// An edit that breaks an index (ip map with a bad key) is refused.
	im, _ := maps.Map("testdata/ips.map", MatchIP, Str)
	if err := im.Ref().Add("not-an-ip", "x"); err == nil {
		t.Fatal("bad ip key accepted")
	}
	if v, _ := im.Lookup("10.1.2.3"); v != "ten-one-two" {
		t.Fatal("refused edit changed the map")
	}
	if names := maps.Names(); len(names) != 2 {
		t.Fatalf("names %v", names)
	}
	rm, _ := maps.Map("testdata/rewrite.map", MatchRegM, Str)
	if v, _ := rm.Lookup("/user/7/x"); v != "/u/x?id=7" {
		t.Fatalf("regm lookup %q", v)
	}
}

func TestMapConcurrentEdits(t *testing.T) {
	maps := NewMaps()
	m, err := maps.Map("testdata/ips.map", MatchIP, Str)
	if err != nil {
		t.Fatal(err)
	}
	reg := testRegistry(t)
	e, err := Compile("src,map_ip(testdata/ips.map)", reg, CompileCtx{Maps: maps})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			m.Ref().Set("10.1.2.0/24", "v")
		}
	}()
	go func() {
		defer wg.Done()
		st := newTestStream(nil)
		for i := 0; i < 200; i++ {
			var smp Sample
			if !e.Eval(st, &smp) {
				t.Error("lookup failed during edits")
				return
			}
		}
	}()
	wg.Wait()
}

func TestIPPatterns(t *testing.T) {
	for in, want := range map[string]string{
		"10.12":               "10.12.0.0/16",
		"10/8":                "10.0.0.0/8",
		"1.2.3.4":             "1.2.3.4/32",
		"1.2.3.4/255.255.0.0": "1.2.0.0/16",
		"2001:db8::/32":       "2001:db8::/32",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"::1":                 "::1/128",
	} {
		p, err := parseIPPattern(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if p.Masked().String() != want {
			t.Errorf("%s = %s, want %s", in, p.Masked(), want)
		}
	}
	for _, bad := range []string{"", "1.2.3.4.5", "256.1.1.1", "1.2.3.4/33", "1.2.3.4/255.0.255.0", "::1/200", "host.name"} {
		if _, err := parseIPPattern(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ps := newPatSet(MatchIP, false)
	ps.add("0.0.0.0/0", 0, "")
	var smp Sample
	smp.SetIP(netip.MustParseAddr("2001:db8::1"))
	if _, ok := ps.match(nil, &smp); ok {
		t.Error("IPv6 that does not map to IPv4 matched 0.0.0.0/0")
	}
}
