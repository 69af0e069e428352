// Package natstest runs a real NATS server with JetStream inside a test
// process (github.com/nats-io/nats-server/v2, embedded): for the NATS
// bridge's tests only. A Server keeps its port and its JetStream store across
// Shutdown and Start, so tests can take NATS away and bring it back.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server is an embedded NATS server on 127.0.0.1 with JetStream enabled.
type Server struct {
	t    testing.TB
	port int
	dir  string
	user string
	pass string
	ns   *server.Server
}

// RequireUser makes the server accept only this user and password (from
// the next Start on).
func (s *Server) RequireUser(user, password string) { s.user, s.pass = user, password }

// New reserves a free port and a JetStream store directory without starting
// the server (a test of "NATS down at start" starts it later). The server is
// shut down at the end of the test.
func New(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: reserving a port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{t: t, port: port, dir: t.TempDir()}
	t.Cleanup(s.Shutdown)
	return s
}

// Start returns a running server (New then Start).
func Start(t testing.TB) *Server {
	t.Helper()
	s := New(t)
	s.Start()
	return s
}

// Start starts (or restarts) the server on its port and store and waits
// until it accepts clients.
func (s *Server) Start() {
	s.t.Helper()
	if s.ns != nil {
		s.t.Fatal("natstest: server already running")
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir,
		NoLog: true, NoSigs: true, Username: s.user, Password: s.pass,
	})
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		s.t.Fatalf("natstest: server on port %d not ready", s.port)
	}
	s.ns = ns
}

// Shutdown stops the server (its store is kept for a restart). Idempotent.
func (s *Server) Shutdown() {
	if s.ns == nil {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.ns = nil
}

// URL returns the client URL (valid whether the server runs or not).
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// HostPort returns "127.0.0.1:<port>", the form a config file's url takes.
func (s *Server) HostPort() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Connect returns a client connection closed at the end of the test.
func (s *Server) Connect() *nats.Conn {
	s.t.Helper()
	nc, err := nats.Connect(s.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		s.t.Fatalf("natstest: connect: %v", err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}
