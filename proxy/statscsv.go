package proxy

import "time"

// The statistics dump shared by the runtime API ("show stat") and the stats
// page ("<uri>;csv"): which rows, in which order. The rows themselves are
// built in api_stats.go.

// StatFilter selects the rows of a statistics dump: "show stat [<iid|proxy>
// <type> <sid>] [up|no-maint]", narrowed by "stats scope" on the stats page.
type StatFilter struct {
	IID     int                 // proxy id; -1: every proxy
	Types   int                 // bit mask: 1 frontend, 2 backend, 4 server; -1: all
	SID     int                 // server id (puid); -1: every server
	Up      bool                // only servers that are up (not DOWN, not in maintenance)
	NoMaint bool                // no server in maintenance
	Proxy   func(p *Proxy) bool // further proxy selection; nil: all
}

// AllStats returns the filter selecting every row.
func AllStats() StatFilter { return StatFilter{IID: -1, Types: -1, SID: -1} }

// WantProxy reports whether rows of p are selected.
func (f *StatFilter) WantProxy(p *Proxy) bool {
	if f.IID != -1 && f.IID != p.uuid {
		return false
	}
	return f.Proxy == nil || f.Proxy(p)
}

// WantType reports whether the row type bit (1 frontend, 2 backend, 4
// server) is selected.
func (f *StatFilter) WantType(bit int) bool { return f.Types == -1 || f.Types&bit != 0 }

// WantServer reports whether the row of s is selected.
func (f *StatFilter) WantServer(s *Server) bool {
	if f.SID != -1 && f.SID != s.puid {
		return false
	}
	maint := s.Admin().IsMaint()
	if f.NoMaint && maint {
		return false
	}
	if f.Up && (maint || s.Op() == Stopped) {
		return false
	}
	return true
}

// AppendStatCSV appends the "show stat" CSV: the header line, then for each
// selected proxy in configuration order its FRONTEND line, its server lines
// and its BACKEND line.
func (e *Engine) AppendStatCSV(dst []byte, f *StatFilter, now time.Time) []byte {
	dst = AppendStatHeader(dst)
	for _, p := range e.proxies {
		if !f.WantProxy(p) {
			continue
		}
		if p.isFE && f.WantType(1) {
			dst = p.FrontendStatRow(now).AppendCSV(dst)
		}
		if !p.isBE {
			continue
		}
		if f.WantType(4) {
			for _, s := range p.Servers() {
				if f.WantServer(s) {
					dst = s.StatRow(now).AppendCSV(dst)
				}
			}
		}
		if f.WantType(2) {
			dst = p.BackendStatRow(now).AppendCSV(dst)
		}
	}
	return dst
}
