// Package apache is processor_parse_apache: parse access-log lines with
// the server's own LogFormat, e.g.
//
//	%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"
//
// compiled once into the literal text between the directives, as
// processor_parse_nginx does (see parsers/internal/logfmt). Fields are
// named as Simple Log Service's Apache mode names them: %h remote_addr,
// %l remote_ident, %u remote_user, %t time_local (without its brackets),
// %r request, %>s status, %b response_size_bytes, %{Referer}i http_referer,
// %{User-Agent}i http_user_agent; the full table is directives in apache.go.
package apache

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
const Type = "processor_parse_apache"

// formats are the named formats LogFormat may give, as Apache's stock
// configurations define them.
var formats = map[string]string{
	"common":         `%h %l %u %t "%r" %>s %b`,
	"combined":       `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`,
	"combinedio":     `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %I %O`,
	"vhost_combined": `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`,
	"referer":        `%{Referer}i -> %U`,
	"agent":          `%{User-agent}i`,
}

// directives name the field of each directive without a {parameter}.
var directives = map[byte]string{
	'a': "client_addr",
	'A': "local_addr",
	'b': "response_size_bytes",
	'B': "response_bytes",
	'D': "request_time_msec", // microseconds, as SLS names it
	'f': "filename",
	'h': "remote_addr",
	'H': "request_protocol_supple",
	'I': "bytes_received",
	'k': "keep_alive",
	'l': "remote_ident",
	'L': "log_id",
	'm': "request_method_supple",
	'O': "bytes_sent",
	'p': "remote_port", // the server's port; SLS's name
	'P': "child_process",
	'q': "request_query",
	'r': "request",
	'R': "response_handler",
	's': "status",
	'S': "bytes_transferred",
	't': "time_local",
	'T': "request_time_sec",
	'u': "remote_user",
	'U': "request_uri_supple",
	'v': "server_name",
	'V': "server_name_request",
	'X': "connection_status",
}

// Config is the processor's parameters.
type Config struct {
	// SourceKey is the field holding the line. Required.
	SourceKey string
	// LogFormat is the LogFormat text (its \" and \\ escapes as in
	// httpd.conf, or plain), or a known format's name (common, combined,
	// combinedio, vhost_combined, referer, agent). Default combined.
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

// Compile compiles a LogFormat text or a known format's name ("" is
// combined).
func Compile(format string) (*logfmt.Format, error) {
	if format == "" {
		format = "combined"
	}
	if s, ok := formats[format]; ok {
		format = s
	}
	var toks []logfmt.Token
	var lit strings.Builder
	emit := func(name string) {
		if lit.Len() > 0 {
			toks = append(toks, logfmt.Token{Lit: lit.String()})
			lit.Reset()
		}
		toks = append(toks, logfmt.Token{Name: name})
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			default:
				lit.WriteByte(format[i])
			}
			continue
		case c != '%':
			lit.WriteByte(c)
			continue
		}
		start := i
		i++
		// Conditions and redirect modifiers: %400,501{…}i, %!200…, %>s.
		for i < len(format) && strings.IndexByte("!<>,0123456789", format[i]) >= 0 {
			i++
		}
		param := ""
		if i < len(format) && format[i] == '{' {
			end := strings.IndexByte(format[i+1:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed { in %q", format[start:])
			}
			param = format[i+1 : i+1+end]
			i += end + 2
		}
		if i >= len(format) {
			return nil, fmt.Errorf("%q: a directive without its letter", format[start:])
		}
		d := format[i]
		if d == '%' {
			lit.WriteByte('%')
			continue
		}
		if d == '^' { // %{name}^ti, %{name}^to: trailers
			if i+2 >= len(format) || param == "" {
				return nil, fmt.Errorf("%q: bad trailer directive", format[start:min(i+3, len(format))])
			}
			kind := format[i+1 : i+3]
			i += 2
			switch kind {
			case "ti":
				emit("trailer_in_" + headerName(param))
			case "to":
				emit("trailer_out_" + headerName(param))
			default:
				return nil, fmt.Errorf("unknown directive %%^%s", kind)
			}
			continue
		}
		name, err := fieldName(d, param)
		if err != nil {
			return nil, err
		}
		if d == 't' && param == "" { // [day/month/year:hour:minute:second zone]
			lit.WriteByte('[')
			emit(name)
			lit.WriteByte(']')
			continue
		}
		emit(name)
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

// fieldName names directive d with its {param}.
func fieldName(d byte, param string) (string, error) {
	if param == "" {
		if n, ok := directives[d]; ok {
			return n, nil
		}
		return "", fmt.Errorf("unknown directive %%%c", d)
	}
	switch d {
	case 'i':
		return "http_" + headerName(param), nil
	case 'o':
		return "sent_http_" + headerName(param), nil
	case 'C':
		return "cookie_" + headerName(param), nil
	case 'e':
		return "env_" + headerName(param), nil
	case 'n':
		return "note_" + headerName(param), nil
	case 'x':
		return headerName(param), nil
	case 'a':
		if param == "c" {
			return "peer_addr", nil
		}
	case 'p':
		switch param {
		case "canonical", "local", "remote":
			return param + "_port", nil
		}
	case 'P':
		switch param {
		case "pid":
			return "child_process", nil
		case "tid", "hextid":
			return "thread_id", nil
		}
	case 't':
		return "time_local", nil
	case 'T':
		switch param {
		case "ms", "us":
			return "request_time_" + param, nil
		case "s":
			return "request_time_sec", nil
		}
	}
	return "", fmt.Errorf("unknown directive %%{%s}%c", param, d)
}

// headerName is a header's field name as nginx forms it: lower case, '-'
// as '_'.
func headerName(h string) string {
	return strings.ReplaceAll(strings.ToLower(h), "-", "_")
}

var _ sdk.Processor = (*Parser)(nil)
