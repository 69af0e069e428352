package scripts

import (
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// osDate is Lua 5.3's os.date([format[, time]]): "*t" / "!*t" return a
// table, other formats go through Strftime; a leading "!" means UTC.
func osDate(L *lua.LState) int {
	format := L.OptString(1, "%c")
	t := time.Now()
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		t = time.Unix(int64(L.CheckNumber(2)), 0)
	}
	utc := false
	if strings.HasPrefix(format, "!") {
		utc = true
		format = format[1:]
	}
	if utc {
		t = t.UTC()
	} else {
		t = t.Local()
	}
	if strings.HasPrefix(format, "*t") {
		tb := L.CreateTable(0, 9)
		tb.RawSetString("year", lua.LNumber(t.Year()))
		tb.RawSetString("month", lua.LNumber(t.Month()))
		tb.RawSetString("day", lua.LNumber(t.Day()))
		tb.RawSetString("hour", lua.LNumber(t.Hour()))
		tb.RawSetString("min", lua.LNumber(t.Minute()))
		tb.RawSetString("sec", lua.LNumber(t.Second()))
		tb.RawSetString("wday", lua.LNumber(t.Weekday()+1))
		tb.RawSetString("yday", lua.LNumber(t.YearDay()))
		tb.RawSetString("isdst", lua.LBool(!utc && t.IsDST()))
		L.Push(tb)
		return 1
	}
	s, err := Strftime(format, t, utc)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	L.Push(lua.LString(s))
	return 1
}

var (
	shortDays   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays    = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	shortMonths = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// Strftime formats t like C's strftime in the C locale. utc makes %Z print
// "GMT" as glibc does for gmtime(). Supported: %a %A %b %B %c %C %d %D %e %F
// %g %G %h %H %I %j %m %M %n %p %r %R %S %t %T %u %U %V %w %W %x %X %y %Y %z
// %Z %%. Any other conversion is an error, as in Lua 5.3.
func Strftime(format string, t time.Time, utc bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", fmt.Errorf("invalid conversion specifier '%%'")
		}
		if err := strftimeConv(&b, format[i], t, utc); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func strftimeConv(b *strings.Builder, c byte, t time.Time, utc bool) error {
	switch c {
	case 'a':
		b.WriteString(shortDays[t.Weekday()])
	case 'A':
		b.WriteString(longDays[t.Weekday()])
	case 'b', 'h':
		b.WriteString(shortMonths[t.Month()-1])
	case 'B':
		b.WriteString(longMonths[t.Month()-1])
	case 'c':
		fmt.Fprintf(b, "%s %s %2d %02d:%02d:%02d %d", shortDays[t.Weekday()], shortMonths[t.Month()-1], t.Day(), t.Hour(), t.Minute(), t.Second(), t.Year())
	case 'C':
		fmt.Fprintf(b, "%02d", t.Year()/100)
	case 'd':
		fmt.Fprintf(b, "%02d", t.Day())
	case 'D', 'x':
		fmt.Fprintf(b, "%02d/%02d/%02d", int(t.Month()), t.Day(), t.Year()%100)
	case 'e':
		fmt.Fprintf(b, "%2d", t.Day())
	case 'F':
		fmt.Fprintf(b, "%d-%02d-%02d", t.Year(), int(t.Month()), t.Day())
	case 'g':
		y, _ := t.ISOWeek()
		fmt.Fprintf(b, "%02d", y%100)
	case 'G':
		y, _ := t.ISOWeek()
		fmt.Fprintf(b, "%d", y)
	case 'H':
		fmt.Fprintf(b, "%02d", t.Hour())
	case 'I':
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		fmt.Fprintf(b, "%02d", h)
	case 'j':
		fmt.Fprintf(b, "%03d", t.YearDay())
	case 'm':
		fmt.Fprintf(b, "%02d", int(t.Month()))
	case 'M':
		fmt.Fprintf(b, "%02d", t.Minute())
	case 'n':
		b.WriteByte('\n')
	case 'p':
		if t.Hour() < 12 {
			b.WriteString("AM")
		} else {
			b.WriteString("PM")
		}
	case 'r':
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		ampm := "AM"
		if t.Hour() >= 12 {
			ampm = "PM"
		}
		fmt.Fprintf(b, "%02d:%02d:%02d %s", h, t.Minute(), t.Second(), ampm)
	case 'R':
		fmt.Fprintf(b, "%02d:%02d", t.Hour(), t.Minute())
	case 'S':
		fmt.Fprintf(b, "%02d", t.Second())
	case 't':
		b.WriteByte('\t')
	case 'T', 'X':
		fmt.Fprintf(b, "%02d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
	case 'u':
		wd := int(t.Weekday())
		if wd == 0 {
			wd = 7
		}
		fmt.Fprintf(b, "%d", wd)
	case 'U':
		fmt.Fprintf(b, "%02d", (t.YearDay()+6-int(t.Weekday()))/7)
	case 'V':
		_, w := t.ISOWeek()
		fmt.Fprintf(b, "%02d", w)
	case 'w':
		fmt.Fprintf(b, "%d", int(t.Weekday()))
	case 'W':
		fmt.Fprintf(b, "%02d", (t.YearDay()+6-(int(t.Weekday())+6)%7)/7)
	case 'y':
		fmt.Fprintf(b, "%02d", t.Year()%100)
	case 'Y':
		fmt.Fprintf(b, "%d", t.Year())
	case 'z':
		_, off := t.Zone()
		sign := '+'
		if off < 0 {
			sign = '-'
			off = -off
		}
		fmt.Fprintf(b, "%c%02d%02d", sign, off/3600, off%3600/60)
	case 'Z':
		if utc {
			b.WriteString("GMT")
		} else {
			name, _ := t.Zone()
			b.WriteString(name)
		}
	case '%':
		b.WriteByte('%')
	default:
		return fmt.Errorf("invalid conversion specifier '%%%c'", c)
	}
	return nil
}
