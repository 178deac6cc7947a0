// Package strptime parses times with LoongCollector's strptime-style
// formats (processor_parse_timestamp_native's SourceFormat): the NetBSD
// conversions it uses plus %f (fraction of a second, up to nanoseconds) and
// its special forms of %s. A format is compiled once; Parse does not
// allocate.
//
// The value may go on after the format (a prefix match, as strptime does):
// "[2017-12-11 15:05:07.012]" parses with "[%Y-%m-%d %H:%M:%S".
package strptime

import (
	"errors"
	"fmt"
	"time"
)

// op is one step of a compiled format.
type op struct {
	conv byte   // 0: literal, ' ': skip white space, else the conversion letter
	lit  []byte // the literal
}

// Layout is a compiled format.
type Layout struct {
	ops []op
	// epoch is the special whole-format %s forms: 1 "%s", 2 "%s%f",
	// 3 "%s.%f" (the first ten digits are seconds, the rest a fraction).
	epoch int
	// year says a conversion sets the year (%Y %y %C %s), so SourceYear
	// does not apply.
	year bool
	// split: the format ends with a literal then %f, so values that share
	// the text before the fraction share their seconds (Parser's cache).
	split bool
}

// composite conversions and what they stand for.
var composite = map[byte]string{
	'c': "%a %b %d %H:%M:%S %Y",
	'D': "%m/%d/%y",
	'F': "%Y-%m-%d",
	'R': "%H:%M",
	'r': "%I:%M:%S %p",
	'T': "%H:%M:%S",
	'X': "%H:%M:%S",
	'x': "%m/%d/%y",
}

// Compile compiles format. An unknown conversion is an error.
func Compile(format string) (*Layout, error) {
	if format == "" {
		return nil, errors.New("empty format")
	}
	l := &Layout{}
	switch format {
	case "%s":
		l.epoch = 1
	case "%s%f":
		l.epoch = 2
	case "%s.%f":
		l.epoch = 3
	}
	if l.epoch != 0 {
		l.year = true
		return l, nil
	}
	if err := l.compile(format, 0); err != nil {
		return nil, err
	}
	n := len(l.ops)
	l.split = n >= 2 && l.ops[n-1].conv == 'f' && l.ops[n-2].conv == 0 && !isDigit(l.ops[n-2].lit[len(l.ops[n-2].lit)-1])
	return l, nil
}

func (l *Layout) compile(format string, depth int) error {
	for i := 0; i < len(format); i++ {
		c := format[i]
		if isSpace(c) {
			l.ops = append(l.ops, op{conv: ' '})
			continue
		}
		if c != '%' {
			l.literal(c)
			continue
		}
		i++
		for i < len(format) && (format[i] == 'E' || format[i] == 'O') {
			i++ // alternative representations: not implemented, accepted
		}
		if i >= len(format) {
			return errors.New("format ends with %")
		}
		c = format[i]
		switch c {
		case '%':
			l.literal('%')
		case 'n', 't':
			l.ops = append(l.ops, op{conv: ' '})
		case 'c', 'D', 'F', 'R', 'r', 'T', 'X', 'x':
			if err := l.compile(composite[c], depth+1); err != nil {
				return err
			}
		case 'Y', 'y', 'C', 's':
			l.year = true
			l.ops = append(l.ops, op{conv: c})
		case 'a', 'A', 'b', 'B', 'h', 'd', 'e', 'f', 'H', 'k', 'I', 'l', 'j', 'M', 'm', 'p', 'S', 'U', 'W', 'w', 'u', 'g', 'G', 'V', 'Z', 'z':
			l.ops = append(l.ops, op{conv: c})
		default:
			return fmt.Errorf("unsupported conversion %%%c", c)
		}
	}
	return nil
}

func (l *Layout) literal(c byte) {
	if n := len(l.ops); n > 0 && l.ops[n-1].conv == 0 {
		l.ops[n-1].lit = append(l.ops[n-1].lit, c)
		return
	}
	l.ops = append(l.ops, op{lit: []byte{c}})
}

// Zone is where a time without an offset is: a fixed offset east of UTC,
// or the local time zone.
type Zone struct {
	Fixed  bool
	Offset int // seconds east of UTC, with Fixed
}

// ParseZone reads LoongCollector's "GMT+08:00" / "GMT-03:00"; "" is the
// local time zone.
func ParseZone(s string) (Zone, error) {
	if s == "" {
		return Zone{}, nil
	}
	if len(s) != len("GMT+08:00") || s[:3] != "GMT" || (s[3] != '+' && s[3] != '-') || s[6] != ':' ||
		!isDigit(s[4]) || !isDigit(s[5]) || !isDigit(s[7]) || !isDigit(s[8]) {
		return Zone{}, fmt.Errorf("want GMT+HH:MM or GMT-HH:MM, got %q", s)
	}
	off := (int(s[4]-'0')*10+int(s[5]-'0'))*3600 + (int(s[7]-'0')*10+int(s[8]-'0'))*60
	if s[3] == '-' {
		off = -off
	}
	return Zone{Fixed: true, Offset: off}, nil
}

func (z Zone) loc() *time.Location {
	if z.Fixed {
		return time.UTC
	}
	return time.Local
}

// unix converts a broken-down time (normalized as mktime does) in z.
func (z Zone) unix(year, mon, day, hour, min, sec int) int64 {
	if z.Fixed {
		return time.Date(year, time.Month(mon), day, hour, min, sec, 0, time.UTC).Unix() - int64(z.Offset)
	}
	return time.Date(year, time.Month(mon), day, hour, min, sec, 0, time.Local).Unix()
}

// tm is strptime's broken-down time.
type tm struct {
	year      int // years since 1900
	hasYear   bool
	splitYear bool
	mon       int // 0-11
	mday      int
	hour      int
	min       int
	sec       int
	nsec      int
}

// Parse reads v with the layout. year is SourceYear: when the format has
// no year, -1 fails, 0 takes the current year (Dec 31 read on Jan 1 is
// last year's, Jan 1 read on Dec 31 next year's), and a positive value is
// that year. It returns the time and how many bytes of v were read.
func (l *Layout) Parse(v []byte, z Zone, year int) (sec int64, nsec int32, n int, ok bool) {
	if l.epoch != 0 {
		return l.parseEpoch(v)
	}
	var t tm
	n, ok = l.scan(v, 0, &t, z)
	if !ok {
		return 0, 0, 0, false
	}
	if !t.hasYear {
		switch {
		case year < 0:
			return 0, 0, 0, false
		case year > 0:
			t.year = year - 1900
		default:
			now := time.Now().In(z.loc())
			if z.Fixed {
				now = now.Add(time.Duration(z.Offset) * time.Second)
			}
			t.year = now.Year() - 1900
			switch {
			case t.mon == 0 && t.mday == 1 && now.Month() == 12 && now.Day() == 31:
				t.year++
			case t.mon == 11 && t.mday == 31 && now.Month() == 1 && now.Day() == 1:
				t.year--
			}
		}
	}
	return z.unix(t.year+1900, t.mon+1, t.mday, t.hour, t.min, t.sec), int32(t.nsec), n, true
}

// SplitCache says whether values that share the text up to Split may share
// their seconds: the format ends with a non-digit literal and %f, and
// names its year.
func (l *Layout) SplitCache() bool { return l.split && l.year }

func (l *Layout) scan(v []byte, p int, t *tm, z Zone) (int, bool) {
	for _, o := range l.ops {
		var ok bool
		switch o.conv {
		case 0:
			if len(v)-p < len(o.lit) || string(v[p:p+len(o.lit)]) != string(o.lit) {
				return 0, false
			}
			p += len(o.lit)
			continue
		case ' ':
			for p < len(v) && isSpace(v[p]) {
				p++
			}
			continue
		case 'a', 'A':
			_, p, ok = findName(v, p, days[:], abdays[:])
		case 'b', 'B', 'h':
			t.mon, p, ok = findName(v, p, months[:], abmonths[:])
		case 'C':
			var c int
			if c, p, ok = num(v, p, 0, 99); ok {
				c = c*100 - 1900
				if t.splitYear {
					c += t.year % 100
				}
				t.splitYear, t.hasYear, t.year = true, true, c
			}
		case 'd':
			t.mday, p, ok = num(v, p, 1, 31)
		case 'e':
			for p < len(v) && v[p] == ' ' {
				p++
			}
			t.mday, p, ok = num(v, p, 1, 31)
		case 'f':
			var f int32
			f, p, ok = fraction(v, p)
			t.nsec = int(f)
		case 'H', 'k':
			t.hour, p, ok = num(v, p, 0, 23)
		case 'I', 'l':
			if t.hour, p, ok = num(v, p, 1, 12); ok && t.hour == 12 {
				t.hour = 0
			}
		case 'j':
			_, p, ok = num(v, p, 1, 366) // read, not used (as mktime ignores tm_yday)
		case 'M':
			t.min, p, ok = num(v, p, 0, 59)
		case 'm':
			var m int
			m, p, ok = num(v, p, 1, 12)
			t.mon = m - 1
		case 'p':
			var i int
			if i, p, ok = findName(v, p, ampm[:], nil); ok {
				if t.hour > 11 {
					return 0, false
				}
				t.hour += i * 12
			}
		case 'S':
			t.sec, p, ok = num(v, p, 0, 61)
		case 's':
			p, ok = epochIn(v, p, t, z)
		case 'U', 'W', 'V':
			_, p, ok = num(v, p, 0, 53)
		case 'w':
			_, p, ok = num(v, p, 0, 6)
		case 'u':
			_, p, ok = num(v, p, 1, 7)
		case 'g':
			_, p, ok = num(v, p, 0, 99)
		case 'G':
			if p >= len(v) {
				return 0, false
			}
			p++
			for p < len(v) && isDigit(v[p]) {
				p++
			}
			ok = true
		case 'Y':
			var y int
			if y, p, ok = num(v, p, 0, 9999); ok {
				t.year, t.hasYear = y-1900, true
			}
		case 'y':
			var y int
			if y, p, ok = num(v, p, 0, 99); ok {
				if t.splitYear {
					y += (t.year / 100) * 100
				} else {
					t.splitYear = true
					if y <= 68 {
						y += 100
					}
				}
				t.year, t.hasYear = y, true
			}
		case 'Z':
			p, ok = zoneName(v, p), true
		case 'z':
			p, ok = offset(v, p)
		}
		if !ok {
			return 0, false
		}
	}
	return p, true
}

// num reads a decimal in [lo, hi] the way NetBSD's conv_num does: at most
// as many digits as hi has, stopping early when another digit would pass hi.
func num(v []byte, p, lo, hi int) (int, int, bool) {
	if p >= len(v) || !isDigit(v[p]) {
		return 0, p, false
	}
	r, rl := 0, hi
	for {
		r = r*10 + int(v[p]-'0')
		rl /= 10
		p++
		if !(r*10 <= hi && rl > 0 && p < len(v) && isDigit(v[p])) {
			break
		}
	}
	if r < lo || r > hi {
		return 0, p, false
	}
	return r, p, true
}

// fraction reads 1 to 9 digits as nanoseconds; further digits are left.
func fraction(v []byte, p int) (int32, int, bool) {
	if p >= len(v) || !isDigit(v[p]) {
		return 0, p, false
	}
	r, n := int32(0), 0
	for p < len(v) && isDigit(v[p]) && n < 9 {
		r = r*10 + int32(v[p]-'0')
		n++
		p++
	}
	for ; n < 9; n++ {
		r *= 10
	}
	return r, p, true
}

// Fraction reads the fraction of a second at the start of v (1 to 9
// digits, as %f does).
func Fraction(v []byte) (nsec int32, ok bool) {
	f, _, ok := fraction(v, 0)
	return f, ok
}

// maxEpochDigits bounds %s so the year stays sane.
const maxEpochDigits = 18

// epochDigits reads the optional white space, sign and digits strtoll
// would, and returns the value, where the digits start and end.
func epochDigits(v []byte, p int) (n int64, start, end int, ok bool) {
	for p < len(v) && isSpace(v[p]) {
		p++
	}
	neg := false
	if p < len(v) && (v[p] == '+' || v[p] == '-') {
		neg = v[p] == '-'
		p++
	}
	start = p
	for p < len(v) && isDigit(v[p]) {
		if p-start >= maxEpochDigits {
			return 0, 0, 0, false
		}
		n = n*10 + int64(v[p]-'0')
		p++
	}
	if neg {
		n = -n
	}
	return n, start, p, n != 0
}

// epochIn is %s inside a longer format: the fields become that instant in z
// (so that, unless later conversions change them, the result is the
// instant itself).
func epochIn(v []byte, p int, t *tm, z Zone) (int, bool) {
	n, _, end, ok := epochDigits(v, p)
	if !ok {
		return p, false
	}
	tt := time.Unix(n, 0).In(z.loc())
	if z.Fixed {
		tt = time.Unix(n+int64(z.Offset), 0).UTC()
	}
	t.year, t.hasYear, t.mon, t.mday = tt.Year()-1900, true, int(tt.Month())-1, tt.Day()
	t.hour, t.min, t.sec = tt.Hour(), tt.Minute(), tt.Second()
	return end, true
}

// parseEpoch is the whole-format %s, %s%f and %s.%f: the first ten digits
// are the seconds; with %s, digits past the tenth are a fraction.
func (l *Layout) parseEpoch(v []byte) (int64, int32, int, bool) {
	n, start, end, ok := epochDigits(v, 0)
	if !ok {
		return 0, 0, 0, false
	}
	digits := end - start
	secDigits := min(digits, 10)
	for range digits - secDigits {
		n /= 10
	}
	fs := start + secDigits
	var nsec int32
	switch l.epoch {
	case 1:
		nsec, _, _ = fraction(v, fs)
		return n, nsec, end, true
	case 3:
		if fs >= len(v) || v[fs] != '.' {
			return 0, 0, 0, false
		}
		fs++
	}
	nsec, p, ok := fraction(v, fs)
	if !ok {
		return 0, 0, 0, false
	}
	return n, nsec, p, true
}

// Epoch reads an Apsara "[1378972170425093]" time: v is the text after
// '['. The first ten digits are the seconds, the rest a fraction; it
// returns where the digits end.
func Epoch(v []byte) (sec int64, nsec int32, end int, ok bool) {
	n, start, end, ok := epochDigits(v, 0)
	if !ok {
		return 0, 0, 0, false
	}
	secDigits := min(end-start, 10)
	for range end - start - secDigits {
		n /= 10
	}
	nsec, _, _ = fraction(v, start+secDigits)
	return n, nsec, end, true
}

// zoneName is %Z: GMT or UTC (any case), else a run of letters.
func zoneName(v []byte, p int) int {
	if len(v)-p >= 3 && (eqFold(v[p:p+3], "GMT") || eqFold(v[p:p+3], "UTC")) {
		return p + 3
	}
	for p < len(v) && (v[p]|0x20 >= 'a' && v[p]|0x20 <= 'z') {
		p++
	}
	return p
}

// offset is %z: Z, UT, GMT, ±hh, ±hhmm, ±hh:mm, the North American zone
// names or a military letter. It is read and checked, not applied (as in
// LoongCollector, where mktime ignores it).
func offset(v []byte, p int) (int, bool) {
	for p < len(v) && isSpace(v[p]) {
		p++
	}
	if p >= len(v) {
		return p, false
	}
	switch v[p] {
	case 'G':
		if len(v)-p < 3 || v[p+1] != 'M' || v[p+2] != 'T' {
			return p, false
		}
		return p + 3, true
	case 'U':
		if len(v)-p < 2 || v[p+1] != 'T' {
			return p, false
		}
		return p + 2, true
	case 'Z':
		return p + 1, true
	case '+', '-':
		p++
		offs, i := 0, 0
		for i < 4 && p < len(v) {
			if isDigit(v[p]) {
				offs = offs*10 + int(v[p]-'0')
				i++
				p++
				continue
			}
			if i == 2 && v[p] == ':' {
				p++
				continue
			}
			break
		}
		switch i {
		case 2:
			return p, true
		case 4:
			return p, offs%100 < 60
		}
		return p, false
	}
	if len(v)-p >= 3 {
		for _, n := range naZones {
			if eqFold(v[p:p+3], n) {
				return p + 3, true
			}
		}
	}
	if c := v[p]; (c >= 'A' && c <= 'I') || (c >= 'L' && c <= 'Y') {
		return p + 1, true
	}
	return p, false
}

var (
	days     = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	abdays   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	months   = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	abmonths = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	ampm     = [...]string{"AM", "PM"}
	naZones  = [...]string{"EST", "CST", "MST", "PST", "EDT", "CDT", "MDT", "PDT"}
)

// findName matches full names first, then abbreviations, ignoring case.
func findName(v []byte, p int, full, abbr []string) (int, int, bool) {
	for _, set := range [2][]string{full, abbr} {
		for i, n := range set {
			if len(v)-p >= len(n) && eqFold(v[p:p+len(n)], n) {
				return i, p + len(n), true
			}
		}
	}
	return 0, p, false
}

func eqFold(b []byte, s string) bool {
	for i := range len(s) {
		c, d := b[i], s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if d >= 'A' && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
