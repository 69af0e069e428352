package proxy

import (
	"bufio"
	"fmt"
	"os"
	"strconv"

	"moonbus/config"
)

// HAProxy's default error bodies.
var errorBodies = map[int]string{
	200: "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n",
	400: "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n",
	401: "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
	403: "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n",
	404: "<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n",
	405: "<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n",
	407: "<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
	408: "<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n",
	410: "<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be available again.\n</body></html>\n",
	413: "<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n",
	425: "<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n",
	429: "<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n",
	500: "<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n",
	501: "<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n",
	502: "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n",
	503: "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
	504: "<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n",
}

// statusText returns the reason phrase HAProxy uses for a status.
func statusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Time-out"
	case 409:
		return "Conflict"
	case 410:
		return "Gone"
	case 411:
		return "Length Required"
	case 413:
		return "Payload Too Large"
	case 414:
		return "URI Too Long"
	case 421:
		return "Misdirected Request"
	case 422:
		return "Unprocessable Content"
	case 425:
		return "Too Early"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Time-out"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Other"
}

// defaultErrorResponse renders HAProxy's built-in response for a status.
func defaultErrorResponse(code int) []byte {
	body, ok := errorBodies[code]
	if !ok {
		body = fmt.Sprintf("<html><body><h1>%d %s</h1>\n</body></html>\n", code, statusText(code))
	}
	extra := ""
	if code == 401 {
		extra = "www-authenticate: Basic realm=\"\"\r\n"
	}
	return []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + statusText(code) + "\r\n" +
		"content-length: " + strconv.Itoa(len(body)) + "\r\n" +
		"cache-control: no-cache\r\n" + extra +
		"content-type: text/html\r\n\r\n" + body)
}

var defaultErrors = func() map[int][]byte {
	m := map[int][]byte{}
	for c := range errorBodies {
		m[c] = defaultErrorResponse(c)
	}
	return m
}()

// loadErrorFiles reads errorfile and errorfiles directives.
func (p *Proxy) loadErrorFiles() error {
	load := func(code int, file string, pos config.Pos) error {
		data, err := os.ReadFile(file)
		if err != nil {
			return &config.Error{Pos: pos, Msg: fmt.Sprintf("error while reading errorfile '%s': %v", file, err)}
		}
		if p.errorFiles == nil {
			p.errorFiles = map[int][]byte{}
		}
		p.errorFiles[code] = data
		return nil
	}
	for _, ref := range p.conf.ErrorFilesRefs {
		if len(ref.Words) == 0 {
			continue
		}
		var sec *config.HTTPErrors
		for _, h := range p.e.conf.HTTPErrors {
			if h.Name == ref.Words[0] {
				sec = h
			}
		}
		if sec == nil {
			return &config.Error{Pos: ref.Pos, Msg: fmt.Sprintf("unknown http-errors section '%s'", ref.Words[0])}
		}
		only := map[int]bool{}
		for _, w := range ref.Words[1:] {
			if n, err := strconv.Atoi(w); err == nil {
				only[n] = true
			}
		}
		for code, f := range sec.Files {
			if len(only) > 0 && !only[code] {
				continue
			}
			if err := load(code, f, sec.Pos); err != nil {
				return err
			}
		}
	}
	for code, f := range p.conf.ErrorFiles {
		if err := load(code, f, p.conf.Pos); err != nil {
			return err
		}
	}
	return nil
}

// errorMessage returns the raw response for a status: the backend's
// errorfile, then the frontend's, then HAProxy's default.
func (t *Txn) errorMessage(code int) []byte {
	if t.be != nil {
		if b, ok := t.be.errorFiles[code]; ok {
			return b
		}
	}
	if b, ok := t.fe.errorFiles[code]; ok {
		return b
	}
	if b, ok := defaultErrors[code]; ok {
		return b
	}
	return defaultErrorResponse(code)
}

// sendError answers the client with an error response and marks the client
// connection to be closed.
func (t *Txn) sendError(code int) {
	t.status = code
	t.closeCli = true
	msg := t.errorMessage(code)
	t.writeRaw(msg)
}

// writeRaw writes a raw response to the client, inserting "connection: close"
// after the status line when the connection will close.
func (t *Txn) writeRaw(msg []byte) {
	bw := t.s.bw
	if t.closeCli {
		if i := indexCRLF(msg); i > 0 {
			bw.Write(msg[:i+2])
			bw.WriteString("connection: close\r\n")
			msg = msg[i+2:]
		}
	}
	n, _ := bw.Write(msg)
	_ = bw.Flush()
	t.bytesOut += int64(n)
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// writeContinue sends an interim "100 Continue".
func writeContinue(bw *bufio.Writer) error {
	_, _ = bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return bw.Flush()
}
