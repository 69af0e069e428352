package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Body relays. They stream: nothing is buffered beyond the bufio buffers, and
// the destination is flushed whenever the source has nothing buffered, so a
// slow trickle of data reaches the peer at once. Each returns the payload
// bytes moved; errors distinguish the side that failed (errSrc/errDst
// wrappers) so the engine can set the right termination state.

// sideError tags an I/O error with the side it happened on.
type sideError struct {
	src bool
	err error
}

func (e *sideError) Error() string { return e.err.Error() }
func (e *sideError) Unwrap() error { return e.err }

func srcErr(err error) error {
	if err == nil {
		return nil
	}
	return &sideError{src: true, err: err}
}

func dstErr(err error) error {
	if err == nil {
		return nil
	}
	return &sideError{src: false, err: err}
}

// isSrcErr reports whether err came from reading the source.
func isSrcErr(err error) bool {
	var se *sideError
	return errors.As(err, &se) && se.src
}

// copyN moves exactly n bytes.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) (int64, error) {
	var done int64
	for done < n {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return done, dstErr(err)
			}
		}
		want := src.Size()
		if rem := n - done; rem < int64(want) {
			want = int(rem)
		}
		b, err := src.Peek(minInt(want, maxInt(src.Buffered(), 1)))
		if len(b) > 0 {
			w, werr := dst.Write(b)
			_, _ = src.Discard(w)
			done += int64(w)
			if werr != nil {
				return done, dstErr(werr)
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return done, srcErr(err)
		}
	}
	return done, nil
}

// copyUntilEOF moves everything until the source closes.
func copyUntilEOF(dst *bufio.Writer, src *bufio.Reader) (int64, error) {
	var done int64
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return done, dstErr(err)
			}
		}
		b, err := src.Peek(maxInt(src.Buffered(), 1))
		if len(b) > 0 {
			w, werr := dst.Write(b)
			_, _ = src.Discard(w)
			done += int64(w)
			if werr != nil {
				return done, dstErr(werr)
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return done, nil
			}
			return done, srcErr(err)
		}
	}
}

// maxChunkLine bounds a chunk-size line (size, extensions).
const maxChunkLine = 4096

// copyChunked relays a chunked body, validating the framing and re-emitting
// it (chunk extensions are dropped, trailers are forwarded).
func copyChunked(dst *bufio.Writer, src *bufio.Reader, maxHdr int) (int64, error) {
	var c chunkRelay
	n, _, err := c.relay(dst, src, maxHdr, 0)
	return n, err
}

// chunkRelay is the progress of a chunked relay, so that a relay whose
// source has nothing more for now (an event loop's socket) can go on later.
type chunkRelay struct {
	state    uint8 // chunkSize, chunkData, chunkCRLF, chunkTrailers
	left     int64 // data bytes left in the current chunk
	trailers int
}

const (
	chunkSize = iota
	chunkData
	chunkCRLF
	chunkTrailers
)

// relay moves the body from where it stopped. It returns the payload bytes
// moved and whether the body ended; budget > 0 bounds the payload moved by
// this call (done false, err nil when it is used up). A source error ends
// it with the framing state kept.
func (c *chunkRelay) relay(dst *bufio.Writer, src *bufio.Reader, maxHdr int, budget int64) (moved int64, done bool, err error) {
	var hex [16]byte
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return moved, false, dstErr(err)
			}
		}
		if c.state == chunkData {
			want := c.left
			if budget > 0 {
				if budget <= moved {
					return moved, false, nil
				}
				want = minI64(want, budget-moved)
			}
			n, err := copyN(dst, src, want)
			moved += n
			c.left -= n
			if err != nil {
				return moved, false, err
			}
			if c.left == 0 {
				c.state = chunkCRLF
			}
			continue
		}
		line, used, err := peekLine(src)
		if err != nil {
			return moved, false, srcErr(err)
		}
		switch c.state {
		case chunkSize:
			size, err := parseChunkSize(line)
			if err != nil {
				return moved, false, srcErr(err)
			}
			_, _ = src.Discard(used)
			if size == 0 {
				c.state = chunkTrailers
				if _, err := dst.WriteString("0\r\n"); err != nil {
					return moved, false, dstErr(err)
				}
				continue
			}
			dst.Write(appendHex(hex[:0], uint64(size)))
			if _, err := dst.WriteString("\r\n"); err != nil {
				return moved, false, dstErr(err)
			}
			c.state, c.left = chunkData, size
		case chunkCRLF:
			if len(line) != 0 {
				return moved, false, srcErr(errBadChunk)
			}
			_, _ = src.Discard(used)
			if _, err := dst.WriteString("\r\n"); err != nil {
				return moved, false, dstErr(err)
			}
			c.state = chunkSize
		case chunkTrailers:
			if len(line) == 0 {
				_, _ = src.Discard(used)
				if _, err := dst.WriteString("\r\n"); err != nil {
					return moved, false, dstErr(err)
				}
				return moved, true, nil
			}
			if c.trailers >= maxHdr || !validTrailer(line) {
				return moved, false, srcErr(errBadChunk)
			}
			c.trailers++
			dst.Write(line)
			dst.WriteString("\r\n")
			_, _ = src.Discard(used)
		}
	}
}

// peekLine returns the next CRLF- or LF-terminated line (without the
// terminator) once it is complete in src, and the bytes to discard for it;
// like readLine, an over-long line is errBadChunk and an end of stream
// io.ErrUnexpectedEOF.
func peekLine(src *bufio.Reader) (line []byte, used int, err error) {
	for {
		b, _ := src.Peek(src.Buffered())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			if i+1 > maxChunkLine {
				return nil, 0, errBadChunk
			}
			line = b[:i]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, i + 1, nil
		}
		if len(b) >= src.Size() {
			return nil, 0, errBadChunk
		}
		if _, err := src.Peek(len(b) + 1); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, 0, io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
	}
}

func minI64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// readLine reads a CRLF- or LF-terminated line (without the terminator); the
// slice is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errBadChunk
		}
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) > maxChunkLine {
		return nil, errBadChunk
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseChunkSize parses "1*HEXDIG [ext]" strictly.
func parseChunkSize(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, errBadChunk // would overflow 2^60
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, errBadChunk
	}
	rest := line[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, errBadChunk
	}
	for _, c := range rest {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return 0, errBadChunk
		}
	}
	return n, nil
}

func validTrailer(l []byte) bool {
	colon := -1
	for i, c := range l {
		if c == ':' {
			colon = i
			break
		}
		if !isTokenChar(c) {
			return false
		}
	}
	if colon <= 0 {
		return false
	}
	for _, c := range l[colon+1:] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func appendHex(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	if v == 0 {
		return append(b, '0')
	}
	var tmp [16]byte
	i := len(tmp)
	for v > 0 {
		i--
		tmp[i] = digits[v&15]
		v >>= 4
	}
	return append(b, tmp[i:]...)
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
