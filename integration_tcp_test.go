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
