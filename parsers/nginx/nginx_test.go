package nginx_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/wasmtail/wasmtail/parsers/nginx"
	"github.com/wasmtail/wasmtail/sdk"
)

var combinedNames = []string{"remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent", "http_referer", "http_user_agent"}

// regexes equivalent to the combined format: the one people write, and the
// one derived from the format (each variable lazily up to its literal).
var (
	handRegex    = regexp.MustCompile(`^(\S*) - (\S*) \[([^\]]*)\] "([^"]*)" (\S*) (\S*) "([^"]*)" "([^"]*)"$`)
	derivedRegex = regexp.MustCompile(`(?s)^(.*?) - (.*?) \[(.*?)\] "(.*?)" (.*?) (.*?) "(.*?)" "(.*?)"$`)
)

// escape writes s as nginx's default log escaping does: '"', '\\' and
// bytes outside 0x20..0x7e as \xHH.
func escape(s string) string {
	var sb strings.Builder
	for i := range len(s) {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			fmt.Fprintf(&sb, `\x%02X`, c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// combinedLine makes one varied combined line: IPv4 and IPv6, dashes,
// empty requests and agents, quotes and UTF-8 (raw, as with escape=none,
// or escaped, as by default).
func combinedLine(r *rand.Rand) string {
	addr := pick(r, fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)), "2001:db8::1", "::1", "192.168.0.1")
	user := pick(r, "-", "-", "alice", "bob_42", "张三", "jo%C3%A9")
	months := []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	tm := fmt.Sprintf("%02d/%s/20%02d:%02d:%02d:%02d %s", 1+r.IntN(28), pick(r, months...), r.IntN(30), r.IntN(24), r.IntN(60), r.IntN(60), pick(r, "+0800", "-0300", "+0000"))
	path := pick(r, "/", "/api/v1/items/"+fmt.Sprint(r.IntN(1e6)), "/search?q=日本語&page=2", "/a b", "/x?q=\"quoted\"", "/-", "/ünïcödé/ß")
	req := pick(r, pick(r, "GET", "POST", "HEAD", "PUT")+" "+path+" "+pick(r, "HTTP/1.1", "HTTP/2.0", "HTTP/1.0"), "", "-", "\\x16\\x03\\x01")
	ref := pick(r, "-", "", "https://example.com/ref?a=1&b=2", "https://例子.测试/路径", "http://x/\"q\"")
	ua := pick(r, "-", "", "curl/8.4.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) 中文 UA", "bot \"with quotes\" [and brackets] - dashes", "ends with space ")
	status := pick(r, "200", "200", "301", "404", "500", "499", "-")
	size := pick(r, fmt.Sprint(r.IntN(1e6)), "0", "-")
	if r.IntN(2) == 0 { // default escaping
		user, req, ref, ua = escape(user), escape(req), escape(ref), escape(ua)
	} else { // escape=none, without raw quotes (they would make the line ambiguous)
		user, req, ref, ua = strings.ReplaceAll(user, `"`, "'"), strings.ReplaceAll(req, `"`, "'"), strings.ReplaceAll(ref, `"`, "'"), strings.ReplaceAll(ua, `"`, "'")
	}
	if strings.ContainsAny(user, " ") || user == "" {
		user = "-"
	}
	return fmt.Sprintf(`%s - %s [%s] "%s" %s %s "%s" "%s"`, addr, user, tm, req, status, size, ref, ua)
}

func parse(t testing.TB, cfg map[string]any, lines []string) []sdk.Record {
	t.Helper()
	data, _ := json.Marshal(cfg)
	var p nginx.Parser
	if err := p.Init(data); err != nil {
		t.Fatalf("Init(%s): %v", data, err)
	}
	var out []sdk.Record
	for len(lines) > 0 {
		n := min(len(lines), 1024)
		var b sdk.Batch
		for _, l := range lines[:n] {
			b.Records = append(b.Records, sdk.Record{Fields: []sdk.Field{{Key: "content", Value: []byte(l)}}})
		}
		if err := p.Process(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Records...)
		lines = lines[n:]
	}
	return out
}

func fields(r sdk.Record) map[string]string {
	m := map[string]string{}
	for _, f := range r.Fields {
		m[f.Key] = string(f.Value)
	}
	return m
}

// TestCombinedEqualsRegex (issue 4, done when 4): with nginx's combined
// format, the parser gives the same fields as the equivalent regexes on
// 100k generated lines.
func TestCombinedEqualsRegex(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	r := rand.New(rand.NewPCG(7, 11))
	lines := make([]string, n)
	for i := range lines {
		lines[i] = combinedLine(r)
	}
	out := parse(t, map[string]any{"SourceKey": "content", "LogFormat": "combined", "KeepingSourceWhenParseFail": true}, lines)
	if len(out) != n {
		t.Fatalf("got %d records, want %d", len(out), n)
	}
	for i, l := range lines {
		got := fields(out[i])
		for _, re := range []*regexp.Regexp{handRegex, derivedRegex} {
			m := re.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("line %d %q: %v does not match", i, l, re)
			}
			want := map[string]string{}
			for k, name := range combinedNames {
				want[name] = m[k+1]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("line %d %q:\ngot  %v\nwant %v (%v)", i, l, got, want, re)
			}
		}
	}
}

// TestMutatedSubsetOfRegex: on damaged lines, whenever the parser matches,
// the derived regex matches with the same fields (the parser takes each
// literal's first occurrence and never backtracks, so it may refuse a line
// the regex reaches by backtracking; it never accepts one the regex
// refuses).
func TestMutatedSubsetOfRegex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	var lines []string
	for range 20_000 {
		b := []byte(combinedLine(r))
		for range 1 + r.IntN(3) {
			i := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b[i] = ` "[]-x`[r.IntN(6)]
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				b = append(b[:i], append([]byte{` "[]-`[r.IntN(5)]}, b[i:]...)...)
			}
		}
		lines = append(lines, string(b))
	}
	out := parse(t, map[string]any{"SourceKey": "content", "KeepingSourceWhenParseFail": true}, lines)
	matched := 0
	for i, l := range lines {
		got := fields(out[i])
		if _, failed := got["content"]; failed {
			continue
		}
		matched++
		m := derivedRegex.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%q: parsed, but the regex does not match", l)
		}
		for k, name := range combinedNames {
			if got[name] != m[k+1] {
				t.Fatalf("%q: %s=%q, regex %q", l, name, got[name], m[k+1])
			}
		}
	}
	t.Logf("%d of %d damaged lines parsed", matched, len(lines))
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name, format string
		line         string
		want         map[string]string // nil: no match
	}{
		{"main", "main", `1.2.3.4 - - [07/Jul/2022:10:43:30 +0800] "GET / HTTP/1.1" 200 37 "-" "curl" "5.6.7.8"`,
			map[string]string{"remote_addr": "1.2.3.4", "remote_user": "-", "time_local": "07/Jul/2022:10:43:30 +0800", "request": "GET / HTTP/1.1", "status": "200", "body_bytes_sent": "37", "http_referer": "-", "http_user_agent": "curl", "http_x_forwarded_for": "5.6.7.8"}},
		{"braces", "${remote_addr}x$status", "1.2.3.4x200", map[string]string{"remote_addr": "1.2.3.4", "status": "200"}},
		{"trailing variable", "$remote_addr $request_time", "1.2.3.4 0.005 s", map[string]string{"remote_addr": "1.2.3.4", "request_time": "0.005 s"}},
		{"prefix", "[$time_local] $status", "[t] 200", map[string]string{"time_local": "t", "status": "200"}},
		{"prefix missing", "[$time_local] $status", "t] 200", nil},
		{"trailing text", `"$request"`, `"GET /" x`, nil},
		{"nginx.conf quoting", `'$remote_addr - "$request" ' '$status'`, `1.2.3.4 - "GET /" 200`, map[string]string{"remote_addr": "1.2.3.4", "request": "GET /", "status": "200"}},
		{"lone dollar", `$$status $`, `$200 $`, map[string]string{"status": "200"}},
		{"empty values", `$a|$b|$c`, `||`, map[string]string{"a": "", "b": "", "c": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := parse(t, map[string]any{"SourceKey": "content", "LogFormat": tt.format, "KeepingSourceWhenParseFail": true}, []string{tt.line})
			got := fields(out[0])
			if tt.want == nil {
				if got["content"] != tt.line || len(got) != 1 {
					t.Errorf("got %v, want no match", got)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct{ name, cfg string }{
		{"adjacent variables", `{"SourceKey":"content","LogFormat":"$a$b"}`},
		{"no variables", `{"SourceKey":"content","LogFormat":"plain"}`},
		{"unclosed brace", `{"SourceKey":"content","LogFormat":"${a"}`},
		{"no source", `{"LogFormat":"combined"}`},
		{"typo", `{"SourceKey":"content","Logformat":"combined"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p nginx.Parser
			if err := p.Init([]byte(tt.cfg)); err == nil {
				t.Errorf("Init(%s): got nil error", tt.cfg)
			}
		})
	}
}
