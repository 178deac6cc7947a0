package timestamp_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmtail/wasmtail/parsers/timestamp"
	"github.com/wasmtail/wasmtail/sdk"
)

func run(t *testing.T, cfg map[string]any, values ...string) []sdk.Record {
	t.Helper()
	data, _ := json.Marshal(cfg)
	var p timestamp.Parser
	if err := p.Init(data); err != nil {
		t.Fatalf("Init(%s): %v", data, err)
	}
	var b sdk.Batch
	for _, v := range values {
		b.Records = append(b.Records, sdk.Record{Sec: 7, Fields: []sdk.Field{{Key: "time", Value: []byte(v)}}})
	}
	if err := p.Process(&b); err != nil {
		t.Fatal(err)
	}
	return b.Records
}

// TestParseLogTime: LoongCollector's ProcessorParseLogTimeUnittest cases
// (SourceTimezone GMT+00:00).
func TestParseLogTime(t *testing.T) {
	tests := []struct {
		value, format string
		sec           int64
		nsec          int32
	}{
		{"2017-1-11 15:05:07.012", "%Y-%m-%d %H:%M:%S.%f", 1484147107, 12000000},
		{"[2017-1-11 15:05:07.0123]", "[%Y-%m-%d %H:%M:%S.%f", 1484147107, 12300000},
		{"11 Jan 17 15:05 MST", "%d %b %y %H:%M", 1484147100, 0},
		{"11 Jan 17 15:05 -0700", "%d %b %y %H:%M", 1484147100, 0},
		{"Tuesday, 11-Jan-17 15:05:07.0123 MST", "%A, %d-%b-%y %H:%M:%S.%f", 1484147107, 12300000},
		{"Tuesday, 11 Jan 2017 15:05:07 MST", "%A, %d %b %Y %H:%M:%S", 1484147107, 0},
		{"2017-01-11T15:05:07Z08:00", "%Y-%m-%dT%H:%M:%S", 1484147107, 0},
		{"2017-01-11T15:05:07.012999999Z07:00", "%Y-%m-%dT%H:%M:%S.%f", 1484147107, 12999999},
		{"1484147107", "%s", 1484147107, 0},
		{"1484147107123", "%s", 1484147107, 123000000},
		{"15:05:07.012 2017-1-11", "%H:%M:%S.%f %Y-%m-%d", 1484147107, 12000000},
		{"2017-1-11 15:05:07.012 +0700 (UTC)", "%Y-%m-%d %H:%M:%S.%f %z (%Z)", 1484147107, 12000000},
		{"2017-1-11 15:05:07.012", "%Y-%m-%d %H:%M:%S", 1484147107, 0},
		// More of the table.
		{"2012-01-01 15:05:04.3", "%Y-%m-%d %H:%M:%S.%f", 1325430304, 300000000},
		{"14841471073", "%s", 1484147107, 300000000},
		{"1484147107.5", "%s.%f", 1484147107, 500000000},
		{"2017-01-11 03:05:07 PM", "%F %I:%M:%S %p", 1484147107, 0},
		{"2017-01-11 12:05:07 AM", "%F %r", 1484093107, 0},
		{"Wed Jan 11 15:05:07 2017", "%c", 1484147107, 0},
		{"01/11/17 15:05", "%D %R", 1484147100, 0},
		{"2017-01-11 15:05:07", "%F %T", 1484147107, 0},
		{"Jan  1 2017 15:05:07", "%b %e %Y %T", 1483283107, 0},
		{"2017 011 15:05:07", "%Y %j %T", 1483196707, 0}, // %j is read, not used (mktime ignores tm_yday): day 0 of January
		{"20 17-01-11", "%C %y-%m-%d", 1484092800, 0},
		{"11/Jan/2017:15:05:07 +0800", "%d/%b/%Y:%H:%M:%S %z", 1484147107, 0},
		{"%2017-01-11", "%%%F", 1484092800, 0},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.value, func(t *testing.T) {
			r := run(t, map[string]any{"SourceKey": "time", "SourceFormat": tt.format, "SourceTimezone": "GMT+00:00"}, tt.value)[0]
			if r.Sec != tt.sec || r.Nsec != tt.nsec {
				t.Errorf("got %d.%09d, want %d.%09d", r.Sec, r.Nsec, tt.sec, tt.nsec)
			}
		})
	}
}

// TestFails: values that do not parse leave the record as it was.
func TestFails(t *testing.T) {
	tests := []struct{ value, format string }{
		{"2017-13-11 15:05:07", "%Y-%m-%d %H:%M:%S"},
		{"2017-1-11", "%Y-%m-%d %H:%M:%S"},
		{"11 15:05:07", "%m-%d %H:%M:%S"}, // no year, SourceYear -1
		{"x", "%s"},
		{"0", "%s"},
		{"1484147107", "%s.%f"},
		{"2017-01-11 13:05:07 PM", "%F %H:%M:%S %p"},
		{"2017-01-11 15:05:07 +0760", "%F %T %z"},
		{"", "%Y"},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.value, func(t *testing.T) {
			r := run(t, map[string]any{"SourceKey": "time", "SourceFormat": tt.format, "SourceTimezone": "GMT+00:00"}, tt.value)[0]
			if r.Sec != 7 || r.Nsec != 0 {
				t.Errorf("got %d.%09d, want the record unchanged", r.Sec, r.Nsec)
			}
		})
	}
}

func TestTimezoneAndYear(t *testing.T) {
	r := run(t, map[string]any{"SourceKey": "time", "SourceFormat": "%Y-%m-%d %H:%M:%S", "SourceTimezone": "GMT+08:00"}, "2012-01-01 15:05:00")[0]
	if want := int64(1325430300 - 8*3600); r.Sec != want {
		t.Errorf("GMT+08:00: got %d, want %d", r.Sec, want)
	}
	r = run(t, map[string]any{"SourceKey": "time", "SourceFormat": "%Y-%m-%d %H:%M:%S", "SourceTimezone": "GMT-03:30"}, "2012-01-01 15:05:00")[0]
	if want := int64(1325430300 + 3*3600 + 1800); r.Sec != want {
		t.Errorf("GMT-03:30: got %d, want %d", r.Sec, want)
	}
	r = run(t, map[string]any{"SourceKey": "time", "SourceFormat": "%m-%d %H:%M:%S.%f", "SourceTimezone": "GMT+00:00", "SourceYear": 2012}, "01-01 15:05:00.999999999")[0]
	if r.Sec != 1325430300 || r.Nsec != 999999999 {
		t.Errorf("SourceYear 2012: got %d.%09d", r.Sec, r.Nsec)
	}
	now := time.Now().UTC()
	v := now.Format("01-02 15:04:05")
	r = run(t, map[string]any{"SourceKey": "time", "SourceFormat": "%m-%d %H:%M:%S", "SourceTimezone": "GMT+00:00", "SourceYear": 0}, v)[0]
	if r.Sec != now.Unix() {
		t.Errorf("SourceYear 0: got %d, want %d", r.Sec, now.Unix())
	}
}

// TestCache: values sharing their seconds (the cache) parse as they do
// alone.
func TestCache(t *testing.T) {
	cfg := map[string]any{"SourceKey": "time", "SourceFormat": "%Y-%m-%d %H:%M:%S.%f", "SourceTimezone": "GMT+00:00"}
	vals := []string{"2012-01-01 15:05:00.1", "2012-01-01 15:05:00.25", "2012-01-01 15:05:00", "2012-01-01 15:05:00.x", "2012-01-01 15:05:01.5", "2012-01-01 15:05:01.5"}
	got := run(t, cfg, vals...)
	for i, v := range vals {
		want := run(t, cfg, v)[0]
		if got[i].Sec != want.Sec || got[i].Nsec != want.Nsec {
			t.Errorf("%q: got %d.%09d in a batch, %d.%09d alone", v, got[i].Sec, got[i].Nsec, want.Sec, want.Nsec)
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
	}{
		{"no format", `{"SourceKey":"time","SourceFormat":""}`},
		{"no key", `{"SourceFormat":"%s"}`},
		{"bad conversion", `{"SourceKey":"time","SourceFormat":"%Q"}`},
		{"bad zone", `{"SourceKey":"time","SourceFormat":"%s","SourceTimezone":"+08:00"}`},
		{"typo", `{"SourceKey":"time","SourceFormat":"%s","SourceTimeZone":"GMT+08:00"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p timestamp.Parser
			if err := p.Init([]byte(tt.cfg)); err == nil {
				t.Errorf("Init(%s): got nil error", tt.cfg)
			}
		})
	}
}

func TestSourceYearType(t *testing.T) {
	var p timestamp.Parser
	err := p.Init([]byte(`{"SourceKey":"time","SourceFormat":"%m-%d","SourceYear":"2020"}`))
	if err == nil || err.Error() != "SourceYear: want an integer, got a string" {
		t.Errorf("got %v, want the type error naming SourceYear", err)
	}
}
