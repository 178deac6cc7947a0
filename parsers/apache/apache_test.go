package apache_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wasmtail/wasmtail/parsers/apache"
	"github.com/wasmtail/wasmtail/sdk"
)

func parse(t *testing.T, format, line string) map[string]string {
	t.Helper()
	data, _ := json.Marshal(map[string]any{"SourceKey": "content", "LogFormat": format, "KeepingSourceWhenParseFail": true})
	var p apache.Parser
	if err := p.Init(data); err != nil {
		t.Fatalf("Init(%s): %v", data, err)
	}
	b := sdk.Batch{Records: []sdk.Record{{Fields: []sdk.Field{{Key: "content", Value: []byte(line)}}}}}
	if err := p.Process(&b); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, f := range b.Records[0].Fields {
		m[f.Key] = string(f.Value)
	}
	return m
}

func TestFormats(t *testing.T) {
	combined := `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`
	tests := []struct {
		name, format, line string
		want               map[string]string // nil: no match
	}{
		{"combined", "combined", combined, map[string]string{
			"remote_addr": "127.0.0.1", "remote_ident": "-", "remote_user": "frank", "time_local": "10/Oct/2000:13:55:36 -0700",
			"request": "GET /apache_pb.gif HTTP/1.0", "status": "200", "response_size_bytes": "2326",
			"http_referer": "http://www.example.com/start.html", "http_user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)"}},
		{"httpd.conf escapes", `%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"`, combined, map[string]string{
			"remote_addr": "127.0.0.1", "remote_ident": "-", "remote_user": "frank", "time_local": "10/Oct/2000:13:55:36 -0700",
			"request": "GET /apache_pb.gif HTTP/1.0", "status": "200", "response_size_bytes": "2326",
			"http_referer": "http://www.example.com/start.html", "http_user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)"}},
		{"common", "common", `::1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 404 -`, map[string]string{
			"remote_addr": "::1", "remote_ident": "-", "remote_user": "-", "time_local": "10/Oct/2000:13:55:36 -0700",
			"request": "GET / HTTP/1.1", "status": "404", "response_size_bytes": "-"}},
		{"vhost_combined", "vhost_combined", `example.com:443 1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 512 "-" "curl/8"`, map[string]string{
			"server_name": "example.com", "remote_port": "443", "remote_addr": "1.2.3.4", "remote_ident": "-", "remote_user": "-",
			"time_local": "10/Oct/2000:13:55:36 -0700", "request": "GET / HTTP/1.1", "status": "200", "bytes_sent": "512",
			"http_referer": "-", "http_user_agent": "curl/8"}},
		{"SLS customized", `%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D %f %k %p %q %R %T %I %O`,
			`1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /x?a=1 HTTP/1.1" 200 5 "-" "ua" 1234 /var/www/x 0 80 ?a=1 core 0 321 654`, map[string]string{
				"remote_addr": "1.2.3.4", "remote_ident": "-", "remote_user": "-", "time_local": "10/Oct/2000:13:55:36 -0700",
				"request": "GET /x?a=1 HTTP/1.1", "status": "200", "response_size_bytes": "5", "http_referer": "-", "http_user_agent": "ua",
				"request_time_msec": "1234", "filename": "/var/www/x", "keep_alive": "0", "remote_port": "80", "request_query": "?a=1",
				"response_handler": "core", "request_time_sec": "0", "bytes_received": "321", "bytes_sent": "654"}},
		{"parameters and modifiers", `%{%Y-%m-%dT%T}t %400,501{X-Id}i %!200{Set-Cookie}o %{ms}T %% %{c}a`,
			`2024-01-02T03:04:05 abc - 17 % 9.9.9.9`, map[string]string{
				"time_local": "2024-01-02T03:04:05", "http_x_id": "abc", "sent_http_set_cookie": "-", "request_time_ms": "17", "peer_addr": "9.9.9.9"}},
		{"no match", "common", `garbage`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parse(t, tt.format, tt.line)
			if tt.want == nil {
				if got["content"] != tt.line || len(got) != 1 {
					t.Errorf("got %v, want no match", got)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct{ name, cfg string }{
		{"unknown directive", `{"SourceKey":"content","LogFormat":"%h %J"}`},
		{"unknown parameter", `{"SourceKey":"content","LogFormat":"%{x}h"}`},
		{"adjacent directives", `{"SourceKey":"content","LogFormat":"%h%l"}`},
		{"unclosed brace", `{"SourceKey":"content","LogFormat":"%{Referer"}`},
		{"dangling percent", `{"SourceKey":"content","LogFormat":"%h %"}`},
		{"typo", `{"SourceKey":"content","Format":"common"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p apache.Parser
			if err := p.Init([]byte(tt.cfg)); err == nil {
				t.Errorf("Init(%s): got nil error", tt.cfg)
			}
		})
	}
}
