package runtimeapi

import "strings"

// Request is one command of an input line: its words after unescaping, and
// its payload when the line ended with a "<<" marker.
type Request struct {
	Args       []string
	Payload    string
	HasPayload bool
}

// maxArgs bounds the number of words of one command (HAProxy's MAX_CLI_ARGS
// is 64); further words are kept joined in the last one.
const maxArgs = 64

// parseLine splits one input line into commands (reference §6.1): commands
// are separated by unescaped ';', words by unescaped spaces or tabs, and a
// backslash escapes the next character ("\;", "\\", "\ "). When the last
// word of the line starts with "<<", the last command expects a payload:
// wantPayload is set and pattern is the terminator ("" means an empty line).
func parseLine(line string) (reqs []Request, pattern string, wantPayload bool) {
	lastEscaped := false
	for _, part := range splitCommands(line) {
		args, esc := splitWords(part)
		if len(args) == 0 {
			continue
		}
		reqs = append(reqs, Request{Args: args})
		lastEscaped = esc
	}
	if n := len(reqs); n > 0 && !lastEscaped {
		last := &reqs[n-1]
		if w := last.Args[len(last.Args)-1]; strings.HasPrefix(w, "<<") {
			last.Args = last.Args[:len(last.Args)-1]
			pattern, wantPayload = w[2:], true
			last.HasPayload = true
			if len(last.Args) == 0 {
				reqs = reqs[:n-1]
			}
		}
	}
	return reqs, pattern, wantPayload
}

// splitCommands cuts a line on unescaped ';'. Escapes are kept for
// splitWords.
func splitCommands(line string) []string {
	var out []string
	start := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case ';':
			out = append(out, line[start:i])
			start = i + 1
		}
	}
	return append(out, line[start:])
}

// splitWords cuts one command into words on unescaped spaces and tabs and
// removes the escaping backslashes. lastEscaped tells whether the last word
// contained an escape.
func splitWords(cmd string) (args []string, lastEscaped bool) {
	var b strings.Builder
	in, esc := false, false
	flush := func() {
		if in {
			args = append(args, b.String())
			b.Reset()
			lastEscaped = esc
			in, esc = false, false
		}
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\\':
			in, esc = true, true
			if i+1 < len(cmd) {
				i++
				b.WriteByte(cmd[i])
			}
		case (c == ' ' || c == '\t') && len(args) < maxArgs-1:
			flush()
		default:
			in = true
			b.WriteByte(c)
		}
	}
	flush()
	return args, lastEscaped
}
