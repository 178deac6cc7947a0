// Package nginx is processor_parse_nginx: parse access-log lines with the
// server's own log_format, e.g.
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// Each variable becomes a field named after it (without the $). The format
// is compiled once into the literal text between the variables; a
// variable's value runs up to the first occurrence of the literal that
// follows it (see parsers/internal/logfmt). Values are kept as nginx wrote
// them: its \xHH escapes are not undone.
package nginx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wasmtail/wasmtail/parsers/internal/conf"
	"github.com/wasmtail/wasmtail/parsers/internal/logfmt"
	"github.com/wasmtail/wasmtail/parsers/internal/rec"
	"github.com/wasmtail/wasmtail/sdk"
)

// Type is the pipeline Type.
const Type = "processor_parse_nginx"

// formats are the named formats LogFormat may give: nginx's built-in
// combined and the main of nginx's stock nginx.conf.
var formats = map[string]string{
	"combined": `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`,
	"main":     `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for"`,
}

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field holding the line. Required.
	SourceKey string
	// LogFormat is the log_format text, or the name of a known format
	// (combined, main). nginx.conf's quoting may be kept: a text starting
	// with ' that is only quoted strings is their contents joined. Default
	// combined.
	LogFormat string
	rec.Common
}

// Parser is the processor.
type Parser struct {
	p logfmt.Processor
}

// Init reads the config (JSON).
func (p *Parser) Init(config []byte) error {
	var c Config
	if err := conf.Decode(config, &c); err != nil {
		return err
	}
	if c.SourceKey == "" {
		return errors.New("SourceKey: required")
	}
	f, err := Compile(c.LogFormat)
	if err != nil {
		return fmt.Errorf("LogFormat: %w", err)
	}
	c.Common.Init(c.SourceKey)
	p.p.Setup(c.SourceKey, c.Common, f)
	return nil
}

// Process parses every record that has the source field.
func (p *Parser) Process(b *sdk.Batch) error { return p.p.Process(b) }

// Compile compiles a log_format text or a known format's name ("" is
// combined).
func Compile(format string) (*logfmt.Format, error) {
	if format == "" {
		format = "combined"
	}
	if s, ok := formats[format]; ok {
		format = s
	}
	if s, ok := unquote(format); ok {
		format = s
	}
	var toks []logfmt.Token
	var lit strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '$' || i+1 == len(format) {
			lit.WriteByte(c)
			continue
		}
		var name string
		if format[i+1] == '{' {
			end := strings.IndexByte(format[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed ${ at byte %d", i)
			}
			name = format[i+2 : i+2+end]
			if name == "" || !isName(name) {
				return nil, fmt.Errorf("bad variable name ${%s}", name)
			}
			i += 2 + end
		} else {
			k := i + 1
			for k < len(format) && isNameByte(format[k]) {
				k++
			}
			if k == i+1 {
				lit.WriteByte(c) // a lone $
				continue
			}
			name = format[i+1 : k]
			i = k - 1
		}
		if lit.Len() > 0 {
			toks = append(toks, logfmt.Token{Lit: lit.String()})
			lit.Reset()
		}
		toks = append(toks, logfmt.Token{Name: name})
	}
	if lit.Len() > 0 {
		toks = append(toks, logfmt.Token{Lit: lit.String()})
	}
	f, err := logfmt.Build(toks)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", format, err)
	}
	return f, nil
}

// unquote joins nginx.conf's quoted strings: 'a' "b" 'c' is abc.
func unquote(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "'") {
		return "", false
	}
	var out strings.Builder
	for len(s) > 0 {
		q := s[0]
		if q != '\'' && q != '"' {
			return "", false
		}
		i := 1
		for ; i < len(s) && s[i] != q; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					out.WriteByte('\n')
				case 't':
					out.WriteByte('\t')
				case 'r':
					out.WriteByte('\r')
				default:
					out.WriteByte(s[i])
				}
				continue
			}
			out.WriteByte(s[i])
		}
		if i == len(s) {
			return "", false
		}
		s = strings.TrimLeft(s[i+1:], " \t\r\n")
	}
	return out.String(), true
}

func isNameByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isName(s string) bool {
	for i := range len(s) {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

var _ sdk.Processor = (*Parser)(nil)
