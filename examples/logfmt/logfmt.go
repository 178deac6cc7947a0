// Package logfmt is an example wasmtail processor: it parses logfmt lines
// (level=info msg="user logged in" user=42) into one field per pair.
//
// It is a plain Go type against the SDK, so it runs natively (see the
// tests) and, through wasm/main.go, as a Wasm module (logfmt.wasm).
package logfmt

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/wasmtail/wasmtail/sdk"
)

// Parser parses the field "content" of each record.
type Parser struct {
	// KeepContent keeps the raw line as "content" after the parsed fields.
	KeepContent bool
	// Prefix is put before every parsed key.
	Prefix string

	keys map[string]string
}

// Init reads the module's Config: {"KeepContent": bool, "Prefix": string}.
func (p *Parser) Init(config []byte) error {
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	var c struct {
		KeepContent bool
		Prefix      string
	}
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("logfmt config: %w", err)
	}
	p.KeepContent, p.Prefix = c.KeepContent, c.Prefix
	p.keys = map[string]string{}
	return nil
}

// Process replaces each record's content by its logfmt pairs. A line with
// no "=" at all is left as it is.
func (p *Parser) Process(b *sdk.Batch) error {
	for i := range b.Records {
		r := &b.Records[i]
		line, ok := r.Get("content")
		if !ok || bytes.IndexByte(line, '=') < 0 {
			continue
		}
		fs := b.Fields(8)
		for _, f := range r.Fields {
			if f.Key != "content" {
				fs = append(fs, f)
			}
		}
		n := len(fs)
		fs = p.parse(b, line, fs)
		if len(fs) == n {
			continue
		}
		if p.KeepContent {
			fs = append(fs, sdk.Field{Key: "content", Value: line})
		}
		r.Fields = fs
	}
	return nil
}

// parse appends the pairs of line to fs. Values are slices of the line,
// except quoted values with escapes, which are unquoted into the batch.
func (p *Parser) parse(b *sdk.Batch, line []byte, fs []sdk.Field) []sdk.Field {
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		ks := i
		for i < len(line) && line[i] != '=' && line[i] != ' ' {
			i++
		}
		key := line[ks:i]
		if len(key) == 0 {
			i++
			continue
		}
		var val []byte
		if i < len(line) && line[i] == '=' {
			i++
			if i < len(line) && line[i] == '"' {
				i++
				vs, esc := i, false
				for i < len(line) && line[i] != '"' {
					if line[i] == '\\' {
						esc = true
						i++
					}
					i++
				}
				val = line[vs:min(i, len(line))]
				if esc {
					val = unescape(b, val)
				}
				i++
			} else {
				vs := i
				for i < len(line) && line[i] != ' ' {
					i++
				}
				val = line[vs:i]
			}
		}
		fs = append(fs, sdk.Field{Key: p.key(key), Value: val})
	}
	return fs
}

func (p *Parser) key(k []byte) string {
	if s, ok := p.keys[string(k)]; ok {
		return s
	}
	s := p.Prefix + string(k)
	if len(p.keys) < 1024 {
		p.keys[string(k)] = s
	}
	return s
}

func unescape(b *sdk.Batch, v []byte) []byte {
	out := b.Alloc(len(v))[:0]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 'n':
				c = '\n'
			case 't':
				c = '\t'
			default:
				c = v[i]
			}
		}
		out = append(out, c)
	}
	return out
}

var _ sdk.Processor = (*Parser)(nil)
