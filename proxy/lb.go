package proxy

import (
	"hash/crc32"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// Load balancing. Every state or weight change rebuilds an immutable lbView
// (copy-on-write); pickers read it through an atomic pointer. Algorithms that
// keep per-pick state (round robin) guard it with their own small mutex.

// lbView is the set of servers the load balancer may use.
type lbView struct {
	act  []*Server // usable active servers, config order
	bck  []*Server // usable backup servers used for traffic (first only unless allbackups)
	nAct int
	nBck int
	// hash tables (map-based): server list expanded by weight.
	actMap []*Server
	bckMap []*Server
	ring   *chashRing
	bring  *chashRing
	gen    uint64
}

// candidates returns the servers to balance over.
func (v *lbView) candidates() []*Server {
	if len(v.act) > 0 {
		return v.act
	}
	return v.bck
}

func (v *lbView) hashTable() []*Server {
	if len(v.act) > 0 {
		return v.actMap
	}
	return v.bckMap
}

func (v *lbView) hashRing() *chashRing {
	if len(v.act) > 0 {
		return v.ring
	}
	return v.bring
}

// lbServer is per-server algorithm state.
type lbServer struct {
	cw int64 // smooth weighted round robin current weight
}

// balancer picks a server with a free slot for a request. full reports that
// usable servers exist but none has a free slot (the request must queue).
type balancer interface {
	pick(p *Proxy, v *lbView, key lbKey) (s *Server, full bool)
}

// lbKey carries what hash-based algorithms hash on.
type lbKey struct {
	hash  uint32
	valid bool
}

// rebuildLB recomputes the view after any server change.
func (p *Proxy) rebuildLB() {
	if !p.isBE {
		return
	}
	// Serialized so that the last rebuild reads every state stored before it.
	p.lbMu.Lock()
	defer p.lbMu.Unlock()
	old := p.lbView.Load()
	v := &lbView{}
	if old != nil {
		v.gen = old.gen + 1
	}
	var firstBackup *Server
	for _, s := range p.Servers() {
		if !s.usable() {
			continue
		}
		if s.backup {
			v.nBck++
			if p.allBackups {
				v.bck = append(v.bck, s)
			} else if firstBackup == nil {
				firstBackup = s
			}
		} else {
			v.nAct++
			v.act = append(v.act, s)
		}
	}
	if firstBackup != nil {
		v.bck = append(v.bck, firstBackup)
	}
	if p.conf != nil && p.conf.Balance != nil && isHashAlgo(p.conf.Balance.Algo) {
		if p.hashConsistent() {
			v.ring = newRing(v.act)
			v.bring = newRing(v.bck)
		} else {
			v.actMap = expandByWeight(v.act)
			v.bckMap = expandByWeight(v.bck)
		}
	}
	p.lbView.Store(v)
}

func (p *Proxy) hashConsistent() bool {
	return p.conf != nil && len(p.conf.HashType) >= 10 && p.conf.HashType[:10] == "consistent"
}

func isHashAlgo(a string) bool {
	switch a {
	case "source", "uri", "url_param", "hdr", "hash", "rdp-cookie":
		return true
	}
	return false
}

func expandByWeight(l []*Server) []*Server {
	var out []*Server
	for _, s := range l {
		w := int(s.eweight.Load())
		for i := 0; i < w; i++ {
			out = append(out, s)
		}
	}
	return out
}

// newBalancer returns the algorithm named by the backend's balance line.
func newBalancer(algo string) balancer {
	switch algo {
	case "static-rr":
		return &roundRobin{}
	case "leastconn":
		return &leastConn{}
	case "first":
		return firstAlgo{}
	case "random":
		return randomAlgo{draws: 2}
	case "source", "uri", "url_param", "hdr", "hash", "rdp-cookie":
		return hashAlgo{fallback: &roundRobin{}}
	}
	return &roundRobin{}
}

// roundRobin is smooth weighted round robin (weights may change at run time;
// slowstart changes the effective weight).
type roundRobin struct {
	mu  sync.Mutex
	gen uint64
}

func (r *roundRobin) pick(p *Proxy, v *lbView, _ lbKey) (*Server, bool) {
	cands := v.candidates()
	if len(cands) == 0 {
		return nil, false
	}
	if len(cands) == 1 {
		s := cands[0]
		if s.tryAcquire() {
			return s, false
		}
		return nil, true
	}
	r.mu.Lock()
	if r.gen != v.gen {
		r.gen = v.gen
		for _, s := range cands {
			s.lb.cw = 0
		}
	}
	var total int64
	var best *Server
	for _, s := range cands {
		w := int64(s.eweight.Load())
		s.lb.cw += w
		total += w
		if !s.hasFreeSlot() {
			continue
		}
		if best == nil || s.lb.cw > best.lb.cw {
			best = s
		}
	}
	if best != nil {
		best.lb.cw -= total
	}
	r.mu.Unlock()
	if best == nil {
		return nil, true
	}
	if best.tryAcquire() {
		return best, false
	}
	// Lost a race for the last slot: try the others in order.
	for _, s := range cands {
		if s != best && s.tryAcquire() {
			return s, false
		}
	}
	return nil, true
}

// leastConn picks the server with the fewest connections relative to its
// weight; ties rotate.
type leastConn struct{ next atomic.Uint32 }

func (l *leastConn) pick(p *Proxy, v *lbView, _ lbKey) (*Server, bool) {
	cands := v.candidates()
	n := len(cands)
	if n == 0 {
		return nil, false
	}
	start := int(l.next.Add(1)) % n
	for attempt := 0; attempt < 2; attempt++ {
		var best *Server
		var bestLoad int64 = -1
		for i := 0; i < n; i++ {
			s := cands[(start+i)%n]
			if !s.hasFreeSlot() {
				continue
			}
			w := int64(s.eweight.Load())
			if w <= 0 {
				continue
			}
			load := (int64(s.cur.Load()) + int64(s.queue.len()) + 1) * 256 / w
			if bestLoad < 0 || load < bestLoad {
				best, bestLoad = s, load
			}
		}
		if best == nil {
			return nil, true
		}
		if best.tryAcquire() {
			return best, false
		}
	}
	return nil, true
}

// firstAlgo uses the server with the lowest id that has a free slot.
type firstAlgo struct{}

func (firstAlgo) pick(p *Proxy, v *lbView, _ lbKey) (*Server, bool) {
	cands := v.candidates()
	if len(cands) == 0 {
		return nil, false
	}
	sorted := cands
	if !sort.SliceIsSorted(cands, func(i, j int) bool { return cands[i].puid < cands[j].puid }) {
		sorted = append([]*Server(nil), cands...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].puid < sorted[j].puid })
	}
	for _, s := range sorted {
		if s.tryAcquire() {
			return s, false
		}
	}
	return nil, true
}

// randomAlgo draws servers at random by weight and keeps the least loaded
// (power of N choices).
type randomAlgo struct{ draws int }

func (r randomAlgo) pick(p *Proxy, v *lbView, _ lbKey) (*Server, bool) {
	cands := v.candidates()
	if len(cands) == 0 {
		return nil, false
	}
	var total int64
	for _, s := range cands {
		total += int64(s.eweight.Load())
	}
	if total <= 0 {
		return nil, false
	}
	var best *Server
	for d := 0; d < r.draws; d++ {
		x := rand.Int64N(total)
		for _, s := range cands {
			x -= int64(s.eweight.Load())
			if x < 0 {
				if s.hasFreeSlot() && (best == nil || s.cur.Load() < best.cur.Load()) {
					best = s
				}
				break
			}
		}
	}
	if best != nil && best.tryAcquire() {
		return best, false
	}
	for _, s := range cands {
		if s.tryAcquire() {
			return s, false
		}
	}
	return nil, true
}

// hashAlgo maps a request key to a server (map-based or consistent).
// Without a key (absent header or parameter) it falls back to round robin.
type hashAlgo struct{ fallback balancer }

func (h hashAlgo) pick(p *Proxy, v *lbView, key lbKey) (*Server, bool) {
	if !key.valid {
		return h.fallback.pick(p, v, key)
	}
	var s *Server
	if ring := v.hashRing(); ring != nil {
		s = ring.get(key.hash)
	} else if t := v.hashTable(); len(t) > 0 {
		s = t[key.hash%uint32(len(t))]
	}
	if s == nil {
		return nil, false
	}
	if s.tryAcquire() {
		return s, false
	}
	return nil, true
}

// chashRing is a consistent hash ring with weight-proportional points.
type chashRing struct {
	points []uint32
	owners []*Server
}

func newRing(l []*Server) *chashRing {
	if len(l) == 0 {
		return nil
	}
	r := &chashRing{}
	type pt struct {
		h uint32
		s *Server
	}
	var pts []pt
	for _, s := range l {
		n := int(s.eweight.Load()) * 16
		for i := 0; i < n; i++ {
			h := crc32.ChecksumIEEE([]byte(s.name + "#" + strconv.Itoa(s.puid) + "#" + strconv.Itoa(i)))
			pts = append(pts, pt{h, s})
		}
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].h < pts[j].h })
	for _, p := range pts {
		r.points = append(r.points, p.h)
		r.owners = append(r.owners, p.s)
	}
	return r
}

func (r *chashRing) get(h uint32) *Server {
	if r == nil || len(r.points) == 0 {
		return nil
	}
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i] >= h })
	if i == len(r.points) {
		i = 0
	}
	return r.owners[i]
}

// sdbmHash is HAProxy's default hash function for map-based hashing.
func sdbmHash(b []byte) uint32 {
	var h uint32
	for _, c := range b {
		h = uint32(c) + (h << 6) + (h << 16) - h
	}
	return h
}

// fullAvalanche mixes a hash (HAProxy applies it to map-based keys).
func fullAvalanche(a uint32) uint32 {
	a = (a + 0x7ed55d16) + (a << 12)
	a = (a ^ 0xc761c23c) ^ (a >> 19)
	a = (a + 0x165667b1) + (a << 5)
	a = (a + 0xd3a2646c) ^ (a << 9)
	a = (a + 0xfd7046c5) + (a << 3)
	a = (a ^ 0xb55a4f09) ^ (a >> 16)
	return a
}
