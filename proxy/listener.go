package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"moonbus/config"
)

// semaphore is a counting semaphore whose limit can change at run time
// ("set maxconn frontend"/"set maxconn global"); limit 0 means unlimited.
type semaphore struct {
	mu     sync.Mutex
	cond   *sync.Cond
	n, max int
	closed bool
}

func newSemaphore(max int) *semaphore {
	s := &semaphore{max: max}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// acquire waits for a slot; it returns false once the semaphore is closed.
func (s *semaphore) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.closed && s.max > 0 && s.n >= s.max {
		s.cond.Wait()
	}
	if s.closed {
		return false
	}
	s.n++
	return true
}

func (s *semaphore) release() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
	s.cond.Signal()
}

func (s *semaphore) setMax(max int) {
	s.mu.Lock()
	s.max = max
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *semaphore) limit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

func (s *semaphore) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cond.Broadcast()
}

// listener is one bound address of a frontend.
type listener struct {
	fe         *Proxy
	conf       *config.Bind
	addr       Addr
	ln         net.Listener
	tlsConf    *tls.Config
	name       string
	id         int
	wg         sync.WaitGroup
	inherited  bool
	handedOver bool
	Counters   Counters
}

// Addr returns the bound address (useful with port 0).
func (l *listener) Addr() net.Addr { return l.ln.Addr() }

// buildListeners resolves a frontend's bind lines into listeners (not yet bound).
func (p *Proxy) buildListeners() error {
	for _, b := range p.conf.Binds {
		var tc *tls.Config
		if b.SSL {
			var err error
			tc, err = bindTLS(b, p.mode)
			if err != nil {
				return &config.Error{Pos: b.Pos, Msg: fmt.Sprintf("'bind %s' : %v", strings.Join(b.Addrs, ","), err)}
			}
		}
		for _, a := range b.Addrs {
			addr, err := ParseAddr(a, true)
			if err != nil {
				return &config.Error{Pos: b.Pos, Msg: fmt.Sprintf("'bind' : %v", err)}
			}
			ports := []int{addr.Port}
			if addr.PortEnd > 0 {
				ports = ports[:0]
				for pt := addr.Port; pt <= addr.PortEnd; pt++ {
					ports = append(ports, pt)
				}
			}
			for _, pt := range ports {
				one := addr
				one.Port, one.PortEnd = pt, 0
				l := &listener{fe: p, conf: b, addr: one, tlsConf: tc, name: b.Name}
				l.id = len(p.listeners) + 1
				if b.ID > 0 {
					l.id = b.ID
				}
				if l.name == "" {
					l.name = "sock-" + strconv.Itoa(l.id)
				}
				p.listeners = append(p.listeners, l)
			}
		}
	}
	return nil
}

// listen binds the listener, reusing a socket inherited from a previous
// engine when the address matches (reload).
func (l *listener) listen(inherited map[string]net.Listener) error {
	key := l.addr.Network + "|" + l.addr.String()
	if ln, ok := inherited[key]; ok {
		delete(inherited, key)
		l.ln = ln
		l.inherited = true
		return nil
	}
	network := l.addr.Network
	if network == "unix" {
		_ = os.Remove(l.addr.Host)
	}
	ln, err := net.Listen(network, l.addr.String())
	if err != nil {
		return fmt.Errorf("cannot bind socket (%w) for [%s]", err, l.addr.String())
	}
	if network == "unix" && l.conf.Mode != 0 {
		_ = os.Chmod(l.addr.Host, os.FileMode(l.conf.Mode))
	}
	l.ln = ln
	return nil
}

func (l *listener) key() string { return l.addr.Network + "|" + l.addr.String() }

// bindTLS builds the server TLS configuration of a bind line.
func bindTLS(b *config.Bind, mode Mode) (*tls.Config, error) {
	var certs []tls.Certificate
	for _, crt := range b.Crts {
		cs, err := loadCerts(crt)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cs...)
	}
	if len(certs) == 0 {
		return nil, errors.New("'ssl' needs at least one 'crt'")
	}
	c := &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}
	if v, ok := tlsVersion(b.SSLMinVer); ok {
		c.MinVersion = v
	}
	if v, ok := tlsVersion(b.SSLMaxVer); ok {
		c.MaxVersion = v
	}
	alpn := b.ALPN
	if alpn == nil && mode == ModeHTTP {
		alpn = []string{"http/1.1"}
	}
	for _, p := range alpn {
		// We speak HTTP/1.1 only: never negotiate h2 on an HTTP frontend.
		if mode == ModeHTTP && p != "http/1.1" && p != "http/1.0" {
			continue
		}
		c.NextProtos = append(c.NextProtos, p)
	}
	switch b.Verify {
	case "required", "optional":
		if b.CAFile == "" {
			return nil, fmt.Errorf("verify %s needs a ca-file", b.Verify)
		}
		pem, err := os.ReadFile(b.CAFile)
		if err != nil {
			return nil, fmt.Errorf("unable to load ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c.ClientCAs = pool
		if b.Verify == "required" {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		} else {
			c.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return c, nil
}

func tlsVersion(s string) (uint16, bool) {
	switch s {
	case "TLSv1.0":
		return tls.VersionTLS10, true
	case "TLSv1.1":
		return tls.VersionTLS11, true
	case "TLSv1.2":
		return tls.VersionTLS12, true
	case "TLSv1.3":
		return tls.VersionTLS13, true
	}
	return 0, false
}

// loadCerts loads a PEM file (key inside, or in <file>.key) or every
// certificate file of a directory in alphabetical order.
func loadCerts(path string) ([]tls.Certificate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("unable to stat SSL certificate from file '%s': %w", path, err)
	}
	if !st.IsDir() {
		c, err := loadPEM(path)
		if err != nil {
			return nil, err
		}
		return []tls.Certificate{c}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("unable to read directory '%s': %w", path, err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			continue
		}
		switch filepath.Ext(n) {
		case ".key", ".issuer", ".ocsp", ".sctl":
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var out []tls.Certificate
	for _, n := range names {
		c, err := loadPEM(filepath.Join(path, n))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func loadPEM(file string) (tls.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("unable to load SSL certificate from file '%s': %w", file, err)
	}
	keyData := data
	if !strings.Contains(string(data), "PRIVATE KEY") {
		keyData, err = os.ReadFile(file + ".key")
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("unable to load SSL private key for '%s': %w", file, err)
		}
	}
	c, err := tls.X509KeyPair(data, keyData)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("unable to load SSL certificate from file '%s': %w", file, err)
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	return c, nil
}

// acceptLoop accepts connections until the listener closes.
func (l *listener) acceptLoop(e *Engine) {
	defer l.wg.Done()
	fe := l.fe
	var delay time.Duration
	for {
		if e.detached.Load() || !e.globalSlots.acquire() {
			return
		}
		if fe.slots != nil && !fe.slots.acquire() {
			e.globalSlots.release()
			return
		}
		conn, err := l.ln.Accept()
		if err != nil {
			if fe.slots != nil {
				fe.slots.release()
			}
			e.globalSlots.release()
			if errors.Is(err, net.ErrClosed) || e.stopping.Load() || e.detached.Load() {
				return
			}
			// Temporary errors (EMFILE...): back off like net/http.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			e.log.Warn(fmt.Sprintf("Proxy %s: accept error: %v", fe.name, err))
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !e.track(conn) {
			_ = conn.Close()
			if fe.slots != nil {
				fe.slots.release()
			}
			e.globalSlots.release()
			return
		}
		go func() {
			defer func() {
				e.untrack(conn)
				if fe.slots != nil {
					fe.slots.release()
				}
				e.globalSlots.release()
			}()
			e.serveConn(l, conn)
		}()
	}
}
