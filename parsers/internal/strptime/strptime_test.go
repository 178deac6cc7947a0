package strptime

import (
	"testing"
	"time"
)

// FuzzParse: any format that compiles and any value: no panic, the bytes
// read are within the value, and a fraction is under a second.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{
		{"%Y-%m-%d %H:%M:%S.%f", "2017-1-11 15:05:07.012"},
		{"%s", "1484147107123"},
		{"%s.%f", "1484147107.5"},
		{"%c %z %Z", "Tue Nov 20 14:12:58 2020 +08:00 UTC"},
		{"%A, %d-%b-%y %r %j %U %W %V %u %w %g %G %C", "Monday, 02-Jan-06 03:04:05 PM 002 01 01 01 1 1 06 2006 20"},
		{"%e %p %I %s", " 7 PM 12 -5"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, format, value string) {
		l, err := Compile(format)
		if err != nil {
			return
		}
		for _, z := range []Zone{{}, {Fixed: true, Offset: 8 * 3600}} {
			for _, y := range []int{-1, 0, 2020} {
				_, nsec, n, ok := l.Parse([]byte(value), z, y)
				if ok && (n < 0 || n > len(value) || nsec < 0 || nsec >= 1e9) {
					t.Fatalf("%q on %q: n=%d nsec=%d", format, value, n, nsec)
				}
			}
		}
	})
}

// TestConvNum: NetBSD's conv_num reads as many digits as the limit has and
// stops early when one more would pass it.
func TestConvNum(t *testing.T) {
	for _, tt := range []struct {
		in     string
		hi     int
		v, end int
		ok     bool
	}{
		{"07", 59, 7, 2, true},
		{"7:", 59, 7, 1, true},
		{"59", 61, 59, 2, true},
		{"62", 61, 0, 0, false},
		{"2017", 9999, 2017, 4, true},
		{"20171", 9999, 2017, 4, true},
		{"1-", 12, 1, 1, true},
		{"13", 12, 0, 0, false},
		{"3", 23, 3, 1, true},
		{"x", 23, 0, 0, false},
	} {
		v, end, ok := num([]byte(tt.in), 0, 0, tt.hi)
		if ok != tt.ok || (ok && (v != tt.v || end != tt.end)) {
			t.Errorf("num(%q, %d): got %d %d %v, want %d %d %v", tt.in, tt.hi, v, end, ok, tt.v, tt.end, tt.ok)
		}
	}
}

func TestZone(t *testing.T) {
	for _, tt := range []struct {
		in  string
		off int
		err bool
	}{
		{"GMT+08:00", 8 * 3600, false},
		{"GMT-03:30", -(3*3600 + 1800), false},
		{"GMT+8:00", 0, true},
		{"UTC+08:00", 0, true},
		{"GMT+08-00", 0, true},
	} {
		z, err := ParseZone(tt.in)
		if (err != nil) != tt.err || (!tt.err && (!z.Fixed || z.Offset != tt.off)) {
			t.Errorf("ParseZone(%q): got %+v, %v", tt.in, z, err)
		}
	}
	if z, err := ParseZone(""); err != nil || z.Fixed {
		t.Errorf(`ParseZone(""): got %+v, %v; want local`, z, err)
	}
}

// TestLocal: without a zone, times are local (as mktime reads them).
func TestLocal(t *testing.T) {
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.FixedZone("X", 3600)
	l, _ := Compile("%Y-%m-%d %H:%M:%S")
	sec, _, _, ok := l.Parse([]byte("2012-01-01 15:05:00"), Zone{}, -1)
	if !ok || sec != 1325430300-3600 {
		t.Errorf("got %d %v, want %d", sec, ok, 1325430300-3600)
	}
}
