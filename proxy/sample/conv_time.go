package sample

import (
	"fmt"
	"strconv"
	"time"
)

// checkDateUnit validates the optional unit argument at index i ("s",
// "ms", "us") and stores its divisor to seconds in Int.
func checkDateUnit(i int) CheckFunc {
	return func(a []Arg, _ *CompileCtx) error {
		if !a[i].Present || a[i].Str == "" || a[i].Str == "s" {
			a[i].Int = 1
			return nil
		}
		switch a[i].Str {
		case "ms":
			a[i].Int = 1000
		case "us":
			a[i].Int = 1000000
		default:
			return fmt.Errorf("expects 's', 'ms' or 'us', got '%s'", a[i].Str)
		}
		return nil
	}
}

func unitTime(v, div int64) time.Time {
	switch div {
	case 1000:
		return time.UnixMilli(v)
	case 1000000:
		return time.UnixMicro(v)
	}
	return time.Unix(v, 0)
}

func convHTTPDate(s Stream, a []Arg, smp *Sample) bool {
	v := smp.Int
	if a[0].Present {
		v += a[0].Int
	}
	t := unitTime(v, a[1].Int).UTC()
	r := begin(s)
	smp.SetStr(r.end(t.AppendFormat(r.buf(), "Mon, 02 Jan 2006 15:04:05 GMT")))
	return true
}

func convTime(utc bool) ConvFunc {
	return func(s Stream, a []Arg, smp *Sample) bool {
		v := smp.Int
		if a[1].Present {
			v += a[1].Int
		}
		t := time.Unix(v, 0)
		if utc {
			t = t.UTC()
		} else {
			t = t.Local()
		}
		r := begin(s)
		smp.SetStr(r.end(appendStrftime(r.buf(), a[0].Bytes, t)))
		return true
	}
}

var weekdays = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
var months = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

func pad2(b []byte, v int) []byte { return append(b, byte('0'+v/10%10), byte('0'+v%10)) }

// appendStrftime formats t with the common strftime(3) conversions.
func appendStrftime(b, f []byte, t time.Time) []byte {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 >= len(f) {
			b = append(b, c)
			continue
		}
		i++
		switch f[i] {
		case 'Y':
			b = strconv.AppendInt(b, int64(t.Year()), 10)
		case 'y':
			b = pad2(b, t.Year()%100)
		case 'C':
			b = pad2(b, t.Year()/100)
		case 'm':
			b = pad2(b, int(t.Month()))
		case 'd':
			b = pad2(b, t.Day())
		case 'e':
			if t.Day() < 10 {
				b = append(b, ' ')
			}
			b = strconv.AppendInt(b, int64(t.Day()), 10)
		case 'H':
			b = pad2(b, t.Hour())
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b = pad2(b, h)
		case 'M':
			b = pad2(b, t.Minute())
		case 'S':
			b = pad2(b, t.Second())
		case 'j':
			d := t.YearDay()
			b = append(b, byte('0'+d/100), byte('0'+d/10%10), byte('0'+d%10))
		case 'a':
			b = append(b, weekdays[t.Weekday()][:3]...)
		case 'A':
			b = append(b, weekdays[t.Weekday()]...)
		case 'b', 'h':
			b = append(b, months[t.Month()-1][:3]...)
		case 'B':
			b = append(b, months[t.Month()-1]...)
		case 'p':
			if t.Hour() < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			b = append(b, byte('0'+wd))
		case 'w':
			b = append(b, byte('0'+int(t.Weekday())))
		case 'T':
			b = pad2(b, t.Hour())
			b = append(b, ':')
			b = pad2(b, t.Minute())
			b = append(b, ':')
			b = pad2(b, t.Second())
		case 'R':
			b = pad2(b, t.Hour())
			b = append(b, ':')
			b = pad2(b, t.Minute())
		case 'D':
			b = pad2(b, int(t.Month()))
			b = append(b, '/')
			b = pad2(b, t.Day())
			b = append(b, '/')
			b = pad2(b, t.Year()%100)
		case 'F':
			b = strconv.AppendInt(b, int64(t.Year()), 10)
			b = append(b, '-')
			b = pad2(b, int(t.Month()))
			b = append(b, '-')
			b = pad2(b, t.Day())
		case 's':
			b = strconv.AppendInt(b, t.Unix(), 10)
		case 'z':
			_, off := t.Zone()
			sign := byte('+')
			if off < 0 {
				sign, off = '-', -off
			}
			b = append(b, sign)
			b = pad2(b, off/3600)
			b = pad2(b, off%3600/60)
		case 'Z':
			name, _ := t.Zone()
			b = append(b, name...)
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '%':
			b = append(b, '%')
		default:
			b = append(b, '%', f[i])
		}
	}
	return b
}
