package moonbus

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers each line with "<name>:<line>".
func echoServer(t *testing.T, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					io.WriteString(c, name+":"+l)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTCPMode(t *testing.T) {
	a, b := echoServer(t, "a"), echoServer(t, "b")
	d := startDaemon(t, `
defaults
    mode tcp
    timeout connect 2s
    timeout client 400ms
    timeout server 400ms
frontend fe
    bind 127.0.0.1:0
    log stdout format raw local0
    option tcplog
    default_backend be
backend be
    balance roundrobin
    server a `+a+`
    server b `+b+`
`)
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", d.addr("fe"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "hello\n")
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.SplitN(l, ":", 2)[0]]++
		c.Close()
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Fatalf("round robin over TCP: %v", seen)
	}
	line := d.waitLog(" fe be/")
	// %ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq
	f := strings.Fields(line)
	if len(f) != 9 || f[2] != "fe" || f[5] != "8" || f[6] != "--" {
		t.Fatalf("tcplog line: %q", line)
	}
	// Inactivity: an idle session is closed after the timeout and logged cD.
	c, _ := net.Dial("tcp", d.addr("fe"))
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle session not closed")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("closed after %v", el)
	}
	l := d.waitLog(" cD ")
	if !strings.Contains(l, " 0 cD ") {
		t.Fatalf("timeout log: %q", l)
	}
}

// TestTCPHalfCloseFinTimeouts: once one direction has ended, timeout
// client-fin / server-fin bound the other one even though timeout client and
// timeout server are long and data flowed a moment ago.
func TestTCPHalfCloseFinTimeouts(t *testing.T) {
	// Each backend connection reports on closed when the proxy closes it.
	closed := make(chan struct{}, 4)
	done := make(chan struct{})
	defer close(done)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l != "close-write\n" {
					<-done // silent: never reads the FIN, never closes
					return
				}
				io.WriteString(c, "bye\n")
				c.(*net.TCPConn).CloseWrite() // the server half-closes
				io.Copy(io.Discard, br)       // and never closes its side
				closed <- struct{}{}
			}()
		}
	}()
	d := startDaemon(t, `
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout client-fin 300ms
    timeout server-fin 300ms
listen li
    bind 127.0.0.1:0
    server s1 `+ln.Addr().String()+`
`)
	// client-fin: the server has ended its direction; the client keeps its
	// own open and is cut after client-fin.
	c, err := net.Dial("tcp", d.addr("li"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "close-write\n")
	if b, err := io.ReadAll(c); string(b) != "bye\n" || err != nil {
		t.Fatalf("client got %q, %v", b, err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("client-fin: the session outlived client-fin (still open after 5s)")
	}
	// server-fin: the client ends its direction; the silent server is cut
	// after server-fin and the client sees the end of the stream.
	c2, err := net.Dial("tcp", d.addr("li"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c2, "stay\n")
	c2.(*net.TCPConn).CloseWrite()
	start := time.Now()
	if _, err := io.ReadAll(c2); err != nil {
		t.Fatalf("server-fin: the session outlived server-fin: %v after %v", err, time.Since(start))
	}
}
