package moonbus

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "moonbus test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM bundle (certificate then key) for name.
func (ca *testCA) issue(t *testing.T, name string) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})...)
}

func TestTLSBindSNIAndServerSSL(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	crtDir := filepath.Join(dir, "certs")
	os.Mkdir(crtDir, 0o755)
	os.WriteFile(filepath.Join(crtDir, "a.pem"), ca.issue(t, "a.test"), 0o600)
	os.WriteFile(filepath.Join(crtDir, "b.pem"), ca.issue(t, "b.test"), 0o600)
	os.WriteFile(filepath.Join(crtDir, "b.pem.ocsp"), []byte("ignored"), 0o600)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.pem, 0o644)

	// A TLS backend presenting a certificate for "backend.test".
	bpair, err := tls.X509KeyPair(splitPEM(ca.issue(t, "backend.test")))
	if err != nil {
		t.Fatal(err)
	}
	var gotSNI string
	bsrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSNI = r.TLS.ServerName
		io.WriteString(w, "secure backend")
	}))
	bsrv.TLS = &tls.Config{Certificates: []tls.Certificate{bpair}}
	bsrv.StartTLS()
	defer bsrv.Close()
	baddr := bsrv.Listener.Addr().String()

	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0 ssl crt `+crtDir+` alpn h2,http/1.1
    default_backend be
frontend fe_plain
    bind 127.0.0.1:0
    default_backend be_badca
backend be
    server s1 `+baddr+` ssl verify required ca-file `+caFile+` sni str(backend.test)
backend be_badca
    server s1 `+baddr+` ssl verify required ca-file `+caFile+` sni str(wrong.name)
`)
	for _, name := range []string{"a.test", "b.test"} {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.pem)
		c, err := tls.Dial("tcp", d.addr("fe"), &tls.Config{ServerName: name, RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st := c.ConnectionState()
		if st.PeerCertificates[0].Subject.CommonName != name {
			t.Fatalf("SNI %s got certificate %s", name, st.PeerCertificates[0].Subject.CommonName)
		}
		if st.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("ALPN negotiated %q, want http/1.1 (h2 is not served)", st.NegotiatedProtocol)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", name)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if string(body) != "secure backend" || gotSNI != "backend.test" {
			t.Fatalf("body %q, backend saw SNI %q", body, gotSNI)
		}
	}
	// verify required with a certificate that does not match the SNI: 503.
	resp, _ := get(t, d.addr("fe_plain"), "/")
	if resp.StatusCode != 503 {
		t.Fatalf("bad backend certificate: %d, want 503", resp.StatusCode)
	}
}

func splitPEM(b []byte) ([]byte, []byte) {
	var certs, key []byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return certs, key
		}
		enc := pem.EncodeToMemory(blk)
		if blk.Type == "CERTIFICATE" {
			certs = append(certs, enc...)
		} else {
			key = append(key, enc...)
		}
	}
}

// TestServerSNIExpression: "sni req.hdr(host)" is evaluated per connection;
// an idle connection negotiated for one name is never reused for another.
func TestServerSNIExpression(t *testing.T) {
	var conns sync.Map // remote addr -> SNI of the TLS session
	bsrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if prev, loaded := conns.LoadOrStore(r.RemoteAddr, r.TLS.ServerName); loaded && prev != r.TLS.ServerName {
			t.Errorf("connection %s carried SNI %v then %s", r.RemoteAddr, prev, r.TLS.ServerName)
		}
		fmt.Fprintf(w, "sni=%s host=%s", r.TLS.ServerName, r.Host)
	}))
	bsrv.StartTLS()
	defer bsrv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    http-reuse always
    server s1 `+bsrv.Listener.Addr().String()+` ssl verify none sni req.hdr(host),lower
`)
	c := dialRaw(t, d.addr("fe"))
	defer c.Close()
	for i, host := range []string{"A.example", "b.example", "a.example", "b.example", "c.example"} {
		c.send("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
		resp, body := c.response("GET")
		want := "sni=" + strings.ToLower(host) + " host=" + host
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
	}
	n := 0
	conns.Range(func(_, _ any) bool { n++; return true })
	if n != 3 {
		t.Fatalf("%d backend connections, want 3 (one per name, reused)", n)
	}
}
