package config

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// ParseTime parses an HAProxy time value (reference §1.5): a non-negative
// integer followed by an optional unit among us, ms, s, m, h, d. Without a
// unit the value is in milliseconds.
func ParseTime(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid time value '%s': expects an integer with an optional unit among us, ms, s, m, h, d", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("time value '%s' is out of range", s)
	}
	var unit time.Duration
	switch s[i:] {
	case "", "ms":
		unit = time.Millisecond
	case "us":
		unit = time.Microsecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("unexpected character '%c' in time value '%s' (units are us, ms, s, m, h, d)", s[i], s)
	}
	if n > uint64(math.MaxInt64/int64(unit)) {
		return 0, fmt.Errorf("time value '%s' is out of range", s)
	}
	return time.Duration(n) * unit, nil
}

// ParseSize parses an HAProxy size value (reference §1.5): a non-negative
// integer followed by an optional k, m or g (any case, powers of 1024).
func ParseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size value '%s': expects an integer with an optional unit among k, m, g", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 63)
	if err != nil {
		return 0, fmt.Errorf("size value '%s' is out of range", s)
	}
	var mult uint64
	switch s[i:] {
	case "":
		mult = 1
	case "k", "K":
		mult = 1 << 10
	case "m", "M":
		mult = 1 << 20
	case "g", "G":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("unexpected character '%c' in size value '%s' (units are k, m, g)", s[i], s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size value '%s' is out of range", s)
	}
	return int64(n * mult), nil
}

// maxTimer is the largest timeout HAProxy accepts (2^31-1 ms).
const maxTimer = time.Duration(math.MaxInt32) * time.Millisecond

// parseTimer parses a timeout argument of keyword kw with HAProxy's limits:
// at most 2147483647 ms and, when not zero, at least 1 ms.
func parseTimer(kw, s string) (time.Duration, error) {
	d, err := ParseTime(s)
	if err != nil {
		return 0, fmt.Errorf("'%s': %w", kw, err)
	}
	if d > maxTimer {
		return 0, fmt.Errorf("timer overflow in argument '%s' to '%s' (maximum value is 2147483647 ms or ~24.8 days)", s, kw)
	}
	if d > 0 && d < time.Millisecond {
		return 0, fmt.Errorf("timer underflow in argument '%s' to '%s' (minimum non-null value is 1 ms)", s, kw)
	}
	return d, nil
}

// parseInt parses a decimal integer argument of keyword kw within [min,max].
func parseInt(kw, s string, min, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		if max >= math.MaxInt32 {
			return 0, fmt.Errorf("'%s' expects an integer argument >= %d, got '%s'", kw, min, s)
		}
		return 0, fmt.Errorf("'%s' expects an integer argument between %d and %d, got '%s'", kw, min, max, s)
	}
	return n, nil
}
