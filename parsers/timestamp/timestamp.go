// Package timestamp is processor_parse_timestamp_native: read the event
// time from a field with a strptime-style format (SourceFormat) and set the
// record's time (seconds and nanoseconds). The field stays; a value that
// does not parse leaves the record as it was.
package timestamp

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/parsers/internal/rec"
	"github.com/wasmtail/wasmtail/parsers/internal/strptime"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_parse_timestamp_native"

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field holding the time. Required.
	SourceKey string
	// SourceFormat is the time's format: %Y %m %d %H %M %S, %f (fraction
	// of a second, up to nanoseconds), %s (Unix seconds; alone, digits past
	// the tenth are a fraction), %b %a %y %j %z %Z %p %I %e, the composites
	// %T %D %F %R %r %c %x %X, and the rest of LoongCollector's table.
	// Required.
	SourceFormat string
	// SourceTimezone is the zone of times without one, GMT+HH:MM or
	// GMT-HH:MM. Default: the agent's local time zone (UTC in a Wasm
	// module).
	SourceTimezone string
	// SourceYear is the year of formats without one: a year, 0 for the
	// current year, or -1 to fail such values. Default -1.
	SourceYear int
}

// Parser is the processor.
type Parser struct {
	cfg    Config
	layout *strptime.Layout
	zone   strptime.Zone
	year   int
	split  bool

	// The last value parsed (or, with split, its text before the
	// fraction) and its seconds and nanoseconds.
	cache     []byte
	cacheOK   bool
	cacheSec  int64
	cacheNsec int32
}

// Init reads the config (JSON).
func (p *Parser) Init(config []byte) error {
	c := Config{SourceYear: -1}
	if err := conf.Decode(config, &c); err != nil {
		return err
	}
	if c.SourceKey == "" {
		return errors.New("SourceKey: required")
	}
	if c.SourceFormat == "" {
		return errors.New("SourceFormat: required")
	}
	l, err := strptime.Compile(c.SourceFormat)
	if err != nil {
		return fmt.Errorf("SourceFormat: %w", err)
	}
	z, err := strptime.ParseZone(c.SourceTimezone)
	if err != nil {
		return fmt.Errorf("SourceTimezone: %w", err)
	}
	if c.SourceYear < -1 {
		return fmt.Errorf("SourceYear: want a year, 0 or -1, got %d", c.SourceYear)
	}
	p.cfg, p.layout, p.zone, p.year, p.split = c, l, z, c.SourceYear, l.SplitCache()
	p.cache, p.cacheOK = p.cache[:0], false
	return nil
}

// Process sets the time of every record whose source field parses.
func (p *Parser) Process(b *sdk.Batch) error {
	for i := range b.Records {
		r := &b.Records[i]
		j := rec.Find(r, p.cfg.SourceKey)
		if j < 0 {
			continue
		}
		if sec, nsec, ok := p.parse(r.Fields[j].Value); ok {
			r.Sec, r.Nsec = sec, nsec
		}
	}
	return nil
}

func (p *Parser) parse(v []byte) (int64, int32, bool) {
	if p.cacheOK {
		if p.split {
			if n := len(p.cache); len(v) > n && isDigit(v[n]) && bytes.Equal(v[:n], p.cache) {
				nsec, _ := strptime.Fraction(v[n:])
				return p.cacheSec, nsec, true
			}
		} else if bytes.Equal(v, p.cache) {
			return p.cacheSec, p.cacheNsec, true
		}
	}
	sec, nsec, n, ok := p.layout.Parse(v, p.zone, p.year)
	if !ok || sec <= 0 {
		return 0, 0, false
	}
	key := v
	if p.split {
		for n > 0 && isDigit(v[n-1]) {
			n--
		}
		key = v[:n]
	}
	p.cache = append(p.cache[:0], key...)
	p.cacheOK, p.cacheSec, p.cacheNsec = true, sec, nsec
	return sec, nsec, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var _ sdk.Processor = (*Parser)(nil)
