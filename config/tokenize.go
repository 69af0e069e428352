package config

import (
	"errors"
	"fmt"
	"strings"
)

// lookupFunc returns the value of an environment variable and whether it is set.
type lookupFunc func(name string) (string, bool)

// Tokenize splits one configuration line into words following HAProxy's
// top-level rules (reference §1.2, §1.3): runs of unquoted blanks separate
// words, an unquoted "#" starts a comment, backslash escapes work outside single
// quotes (\ , \#, \\, \', \", \r, \n, \t, \xNN, and \$ inside double quotes;
// other pairs are kept as written, e.g. "\1"), single quotes are strong, double quotes are weak and
// expand $NAME, ${NAME}, ${NAME-default} and ${NAME[*]} from env. A nil env
// means no variable is set. Pseudo-variables (.FILE, .LINE, .SECTION) are
// looked up in env under their dotted names.
func Tokenize(line string, env map[string]string) ([]string, error) {
	return tokenize(line, func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
}

// tokenizer holds the state of one tokenize call.
type tokenizer struct {
	words    []string
	cur      []byte
	inWord   bool // a word was started (quotes alone start one: "" is an empty word)
	starOnly bool // the word so far only comes from ${X[*]} expansions
}

func (t *tokenizer) add(b ...byte) {
	t.cur = append(t.cur, b...)
	t.inWord = true
	t.starOnly = false
}

func (t *tokenizer) start() {
	if !t.inWord {
		t.starOnly = false
	}
	t.inWord = true
}

func (t *tokenizer) emit() {
	if t.inWord && !(t.starOnly && len(t.cur) == 0) {
		t.words = append(t.words, string(t.cur))
	}
	t.cur = t.cur[:0]
	t.inWord = false
	t.starOnly = false
}

func tokenize(line string, lookup lookupFunc) ([]string, error) {
	t := &tokenizer{}
	squote, dquote := false, false
	quotePos := 0 // 1-based position of the last opening quote
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case squote:
			if c == '\'' {
				squote = false
			} else {
				t.add(c)
			}
			i++
		case c == '\\':
			n, err := t.escape(line, i, dquote)
			if err != nil {
				return nil, err
			}
			i += n
		case c == '\'' && !dquote:
			squote, quotePos = true, i+1
			t.start()
			i++
		case c == '"':
			if !dquote {
				quotePos = i + 1
			}
			dquote = !dquote
			t.start()
			i++
		case c == '$' && dquote:
			n, err := t.expand(line, i, lookup)
			if err != nil {
				return nil, err
			}
			i += n
		case !dquote && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			t.emit()
			i++
		case !dquote && c == '#':
			i = len(line)
		default:
			t.add(c)
			i++
		}
	}
	if squote || dquote {
		return nil, fmt.Errorf("unmatched quote at position %d", quotePos)
	}
	t.emit()
	return t.words, nil
}

// escape handles a backslash at line[i] and returns how many bytes it used.
func (t *tokenizer) escape(line string, i int, dquote bool) (int, error) {
	if i+1 >= len(line) {
		t.add('\\')
		return 1, nil
	}
	switch n := line[i+1]; n {
	case ' ', '#', '\\', '\'', '"':
		t.add(n)
	case '$':
		if dquote {
			t.add('$')
		} else {
			t.add('\\', '$') // "\$" only means something where variables expand
		}
	case 'r':
		t.add('\r')
	case 'n':
		t.add('\n')
	case 't':
		t.add('\t')
	case 'x':
		if i+3 >= len(line) {
			return 0, fmt.Errorf("truncated or invalid hexadecimal sequence at position %d", i+1)
		}
		hi, ok1 := unhex(line[i+2])
		lo, ok2 := unhex(line[i+3])
		if !ok1 || !ok2 {
			return 0, fmt.Errorf("truncated or invalid hexadecimal sequence at position %d", i+1)
		}
		t.add(hi<<4 | lo)
		return 4, nil
	default:
		t.add('\\', n) // not a special sequence: kept as written (e.g. regex "\1", "\.")
	}
	return 2, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isVarStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isVarChar(c byte) bool { return isVarStart(c) || (c >= '0' && c <= '9') }

// pseudoVars are the only variable names that may contain a dot.
var pseudoVars = map[string]bool{".FILE": true, ".LINE": true, ".SECTION": true}

// expand handles "$" at line[i] inside double quotes and returns how many
// bytes it used.
func (t *tokenizer) expand(line string, i int, lookup lookupFunc) (int, error) {
	pos := i + 1 // 1-based position of the '$' for messages
	j := i + 1
	brace := j < len(line) && line[j] == '{'
	if brace {
		j++
	}
	start := j
	if j < len(line) && line[j] == '.' {
		j++
	}
	if j >= len(line) || !isVarStart(line[j]) {
		return 0, fmt.Errorf("forbidden first char in environment variable name at position %d", j+1)
	}
	for j < len(line) && isVarChar(line[j]) {
		j++
	}
	name := line[start:j]
	if name[0] == '.' && !pseudoVars[name] {
		return 0, fmt.Errorf("unsupported internal variable '%s' at position %d", name, pos)
	}
	value, set := lookup(name)
	star := false
	if brace && j < len(line) && line[j] == '[' {
		if !strings.HasPrefix(line[j:], "[*]") {
			return 0, fmt.Errorf("truncated or invalid word expansion sequence at position %d", j+1)
		}
		star = true
		j += 3
	}
	if brace {
		if j < len(line) && line[j] == '-' {
			end := strings.IndexByte(line[j:], '}')
			if end < 0 {
				return 0, fmt.Errorf("unmatched brace in environment variable name at position %d", pos+1)
			}
			if !set {
				value = line[j+1 : j+end]
			}
			j += end
		}
		if j >= len(line) || line[j] != '}' {
			return 0, fmt.Errorf("unmatched brace in environment variable name at position %d", pos+1)
		}
		j++
	}
	if !star {
		t.start()
		t.cur = append(t.cur, value...)
		if value != "" {
			t.starOnly = false
		}
		return j - i, nil
	}
	if len(t.cur) == 0 {
		t.starOnly = true // dropped at the end if nothing else joins it
	}
	t.inWord = true
	for k := 0; k < len(value); k++ {
		c := value[k]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			if len(t.cur) > 0 {
				t.emit()
				t.inWord = true
				t.starOnly = true
			}
			continue
		}
		t.cur = append(t.cur, c)
	}
	return j - i, nil
}

// SplitArgs splits the inside of the parentheses of a sample fetch or
// converter call ("fetch(a,b)" → SplitArgs("a,b")) into its arguments, using
// HAProxy's second-level rules (reference §1.2): commas separate arguments,
// single quotes are strong, double quotes weak, a backslash escapes \, ', ",
// a comma or a space and gives CR/LF/TAB for \r, \n, \t; \#, \$ and \xNN are
// not processed again and are kept as written. Spaces are kept. An empty
// string has no argument; "a," has two, the second empty.
func SplitArgs(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var args []string
	var cur []byte
	squote, dquote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case squote:
			if c == '\'' {
				squote = false
			} else {
				cur = append(cur, c)
			}
		case c == '\\' && i+1 < len(s):
			i++
			switch n := s[i]; n {
			case '\\', '\'', '"', ',', ' ':
				cur = append(cur, n)
			case 'r':
				cur = append(cur, '\r')
			case 'n':
				cur = append(cur, '\n')
			case 't':
				cur = append(cur, '\t')
			default:
				cur = append(cur, '\\', n)
			}
		case c == '\'' && !dquote:
			squote = true
		case c == '"':
			dquote = !dquote
		case c == ',' && !dquote:
			args = append(args, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if squote || dquote {
		return nil, errors.New("unmatched quote in argument list")
	}
	return append(args, string(cur)), nil
}
