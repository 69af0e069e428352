package config

import (
	"reflect"
	"time"
)

// cloneProxy returns a deep copy of px: no pointer, slice or map is shared
// with the original, so a proxy can change what it inherited from a defaults
// section without touching the section or its siblings.
func cloneProxy(px *Proxy) *Proxy {
	return deepCopy(reflect.ValueOf(px)).Interface().(*Proxy)
}

// deepCopy copies v recursively. The configuration model holds only
// structs, pointers, slices, arrays, maps and plain values; unexported
// fields do not exist in it.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := 0; i < v.NumField(); i++ {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(deepCopy(iter.Key()), deepCopy(iter.Value()))
		}
		return out
	}
	return v
}

// trimForKind clears, in a proxy freshly copied from a defaults section,
// what its kind of proxy cannot use: HAProxy copies only the settings that
// match the proxy's capabilities (frontend side, backend side).
func trimForKind(px *Proxy, kind ProxyKind) {
	if kind == KindDefaults {
		return // a defaults section keeps everything for the proxies using it
	}
	caps := proxyCaps(kind)
	t := &px.Timeouts
	if caps&capF == 0 { // backend: no frontend-side settings
		t.Client, t.ClientFin = 0, 0
		px.Maxconn = 0
		px.DefaultBackend, px.DefaultBackendPos = "", Pos{}
		px.LogFormat, px.LogFormatPos, px.LogOption = "", Pos{}, ""
		px.LogFormatSD, px.ErrorLogFormat = "", ""
		px.MonitorURI, px.UniqueIDFormat, px.UniqueIDHeader = "", "", ""
		px.TCPRequestConnection, px.TCPRequestSession = nil, nil
		px.DontLogNull, px.LogSeparateErrors = false, false
		px.OtherKeywords = keepLines(px.OtherKeywords, capB)
	}
	if caps&capB == 0 { // frontend: no backend-side settings
		t.Connect, t.Server, t.Queue, t.Check, t.Tunnel, t.ServerFin = 0, 0, 0, 0, 0, 0
		px.Fullconn = 0
		px.Redispatch, px.RedispatchInterval, px.AllBackups = false, 0, false
		px.Balance, px.HashType, px.DefaultServer = nil, "", nil
		px.CheckKind, px.CheckArgs, px.HTTPCheckRules, px.TCPCheckRules = "", nil, nil, nil
		px.LogHealthChecks = false
		px.TCPResponseContent, px.TCPResponseInspectDelay = nil, time.Duration(0)
		px.AutoWeight, px.Cookie = nil, nil
		px.OtherKeywords = keepLines(px.OtherKeywords, capF)
	}
}

// keepLines keeps the OtherKeywords lines usable with capability c.
func keepLines(lines []Line, c uint8) []Line {
	var out []Line
	for _, l := range lines {
		if tuneProxyKeywords[l.Words[0]]&c != 0 {
			out = append(out, l)
		}
	}
	return out
}
