package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tunnelResult reports a finished bidirectional relay.
type tunnelResult struct {
	up, down   int64 // client->server, server->client payload bytes
	timeout    bool
	err        error // first non-EOF error
	clientDone bool  // the client side ended first
}

// runTunnel relays bytes both ways until both directions end, honouring an
// inactivity timeout shared by both directions (timeout tunnel/client/server)
// and the half-closed timeouts. Plain TCP connections use io.Copy, which
// splices on Linux; bytes already buffered in the readers go first.
func runTunnel(cli net.Conn, cbr *bufio.Reader, srv net.Conn, sbr *bufio.Reader, idle, cliFin, srvFin time.Duration) tunnelResult {
	return runTunnelGated(cli, cbr, srv, sbr, idle, cliFin, srvFin, nil)
}

// runTunnelGated is runTunnel where gate, when set, runs in the
// server-to-client direction before any byte is relayed (tcp-response
// rules); returning false aborts the session.
func runTunnelGated(cli net.Conn, cbr *bufio.Reader, srv net.Conn, sbr *bufio.Reader, idle, cliFin, srvFin time.Duration, gate func() bool) tunnelResult {
	var res tunnelResult
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(2)
	// finAt[0] bounds reads from the client, finAt[1] reads from the
	// server, once the opposite direction has ended (client-fin, server-fin).
	var finAt [2]atomic.Int64
	abort := func() {
		_ = cli.Close()
		_ = srv.Close()
	}
	dir := func(dst, src net.Conn, br *bufio.Reader, count *int64, fin time.Duration, fromClient bool) {
		srcFin, dstFin := &finAt[1], &finAt[0]
		if fromClient {
			srcFin, dstFin = &finAt[0], &finAt[1]
		}
		defer wg.Done()
		if !fromClient && gate != nil && !gate() {
			mu.Lock()
			res.err = errGateRejected
			mu.Unlock()
			abort()
			return
		}
		n, err := pipe(dst, src, br, idle, &last, srcFin)
		atomic.AddInt64(count, n)
		mu.Lock()
		if err != nil {
			if errors.Is(err, errTunnelIdle) {
				res.timeout = true
			} else if res.err == nil {
				res.err = err
			}
		}
		if fromClient && err == nil {
			res.clientDone = true
		}
		mu.Unlock()
		if err != nil {
			abort()
			return
		}
		// Half-close: propagate the end of this direction, then bound the
		// time the other direction may stay open.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		if fin > 0 {
			at := time.Now().Add(fin)
			dstFin.Store(at.UnixNano())
			_ = dst.SetReadDeadline(at)
		}
	}
	go dir(srv, cli, cbr, &res.up, srvFin, true)
	go dir(cli, srv, sbr, &res.down, cliFin, false)
	wg.Wait()
	abort()
	return res
}

var (
	errTunnelIdle   = errors.New("tunnel inactivity timeout")
	errGateRejected = errors.New("rejected by tcp-response rules")
)

// pipe copies src to dst until EOF. With an idle timeout, the read deadline
// is renewed while either direction moves bytes (last holds the time of the
// last progress of either side). fin, once set (unix nanoseconds), is a hard
// limit: the other direction has ended and src must finish by then.
func pipe(dst, src net.Conn, br *bufio.Reader, idle time.Duration, last, fin *atomic.Int64) (int64, error) {
	var total int64
	if br != nil && br.Buffered() > 0 {
		b, _ := br.Peek(br.Buffered())
		n, err := dst.Write(b)
		_, _ = br.Discard(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	for {
		f := fin.Load()
		if f != 0 {
			at := time.Unix(0, f)
			if idle > 0 && time.Now().Add(idle).Before(at) {
				at = time.Now().Add(idle)
			}
			_ = src.SetReadDeadline(at)
		} else if idle > 0 {
			_ = src.SetReadDeadline(time.Now().Add(idle))
		}
		if fin.Load() != f {
			continue // the other direction ended meanwhile: apply its limit
		}
		n, err := io.Copy(dst, src)
		total += n
		if n > 0 {
			last.Store(time.Now().UnixNano())
		}
		if err == nil {
			return total, nil // EOF
		}
		if isTimeout(err) && (idle > 0 || fin.Load() != 0) {
			if f := fin.Load(); f != 0 && time.Now().UnixNano() >= f {
				return total, errTunnelIdle
			}
			if idle > 0 && time.Since(time.Unix(0, last.Load())) < idle {
				continue
			}
			return total, errTunnelIdle
		}
		return total, err
	}
}
