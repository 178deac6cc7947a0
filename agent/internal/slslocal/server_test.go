package slslocal_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/gogo/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
)

func TestMain(m *testing.M) {
	// One attempt per call: the tests count what the server answers.
	slssdk.RetryOnServerErrorEnabled = false
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("github.com/klauspost/compress/zstd.(*blockDec).startDecoder"),
	)
}

func logGroup(lines ...string) *slssdk.LogGroup {
	lg := &slssdk.LogGroup{Topic: proto.String("t"), Source: proto.String("10.0.0.1"),
		LogTags: []*slssdk.LogTag{{Key: proto.String("__pack_id__"), Value: proto.String("ABC-0")}}}
	for _, l := range lines {
		lg.Logs = append(lg.Logs, &slssdk.Log{Time: proto.Uint32(1700000000),
			Contents: []*slssdk.LogContent{{Key: proto.String("content"), Value: proto.String(l)}}})
	}
	return lg
}

// sdkClient is the SDK's own client, dialling the server whatever the
// URL's host (<project>.<addr>) is.
func sdkClient(srv *slslocal.Server, auth slssdk.AuthVersionType, secret, token string) *slssdk.Client {
	addr := srv.Addr()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	return &slssdk.Client{Endpoint: addr, AccessKeyID: slslocal.TestAccessKeyID, AccessKeySecret: secret,
		SecurityToken: token, AuthVersion: auth, Region: "cn-hangzhou", HTTPClient: &http.Client{Transport: tr},
		RetryTimeOut: time.Second}
}

func stored(t *testing.T, srv *slslocal.Server) []map[string]string {
	var out []map[string]string
	require.NoError(t, srv.ReadLogs("proj", "store", func(r map[string]string) { out = append(out, r) }))
	return out
}

// TestSDKPutLogs: what the SDK itself sends (its own marshalling and
// compression, both signatures, hash-key routing) is accepted and stored.
func TestSDKPutLogs(t *testing.T) {
	for _, auth := range []slssdk.AuthVersionType{slssdk.AuthV1, slssdk.AuthV4} {
		for _, comp := range []int{slssdk.Compress_LZ4, slssdk.Compress_ZSTD, slssdk.Compress_None} {
			t.Run(fmt.Sprintf("%s/%d", auth, comp), func(t *testing.T) {
				srv := slslocal.Start(t, slslocal.Options{})
				c := sdkClient(srv, auth, slslocal.TestAccessKeySecret, "")
				require.NoError(t, c.PutLogsWithCompressType("proj", "store", logGroup("a", "b\n\"c\""), comp))
				key := "0123456789ABCDEF0123456789ABCDEF"
				require.NoError(t, c.PostLogStoreLogsV2("proj", "store", &slssdk.PostLogStoreLogsRequest{
					LogGroup: logGroup("d"), HashKey: &key, CompressType: comp}))
				recs := stored(t, srv)
				require.Len(t, recs, 3)
				assert.Equal(t, map[string]string{"content": "b\n\"c\"", "__time__": "1700000000", "__topic__": "t",
					"__source__": "10.0.0.1", "__tag__:__pack_id__": "ABC-0"}, recs[1])
				assert.Equal(t, "/logstores/store/shards/route?key="+key, srv.LastURI())
				assert.Equal(t, int64(2), srv.Stats().Requests["200"])
			})
		}
	}
}

func TestAuthErrors(t *testing.T) {
	srv := slslocal.Start(t, slslocal.Options{SecurityToken: "tok"})
	tests := []struct {
		name          string
		auth          slssdk.AuthVersionType
		secret, token string
		want          string
	}{
		{"v1 wrong secret", slssdk.AuthV1, "nope", "tok", "SignatureNotMatch"},
		{"v4 wrong secret", slssdk.AuthV4, "nope", "tok", "SignatureNotMatch"},
		{"no token", slssdk.AuthV1, slslocal.TestAccessKeySecret, "", "SecurityTokenExpired"},
		{"wrong token", slssdk.AuthV4, slslocal.TestAccessKeySecret, "old", "SecurityTokenExpired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sdkClient(srv, tt.auth, tt.secret, tt.token).PutLogs("proj", "store", logGroup("a"))
			var se *slssdk.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, int32(401), se.HTTPCode)
			assert.Equal(t, tt.want, se.Code)
			assert.NotEmpty(t, se.RequestID)
		})
	}
	require.NoError(t, sdkClient(srv, slssdk.AuthV4, slslocal.TestAccessKeySecret, "tok").PutLogs("proj", "store", logGroup("a")))
	assert.Equal(t, "tok", srv.LastHeaders().Get("x-acs-security-token"))
}

func TestLimits(t *testing.T) {
	srv := slslocal.Start(t, slslocal.Options{MaxBodyBytes: 1000, MaxLogs: 3})
	c := sdkClient(srv, slssdk.AuthV1, slslocal.TestAccessKeySecret, "")
	for _, tc := range []struct {
		lg   *slssdk.LogGroup
		code string
	}{
		{logGroup(strings.Repeat("x", 2000)), "PostBodyTooLarge"},
		{logGroup("a", "b", "c", "d"), "PostBodyInvalid"},
	} {
		err := c.PutLogs("proj", "store", tc.lg)
		var se *slssdk.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, int32(400), se.HTTPCode)
		assert.Equal(t, tc.code, se.Code)
	}
	require.NoError(t, c.PutLogs("proj", "store", logGroup("a", "b", "c")))
}

// TestDeflate posts a zlib-compressed body signed by hand (v1), as SDKs that
// use deflate send it.
func TestDeflate(t *testing.T) {
	srv := slslocal.Start(t, slslocal.Options{})
	raw, err := proto.Marshal(logGroup("deflated"))
	require.NoError(t, err)
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	_, _ = zw.Write(raw)
	require.NoError(t, zw.Close())
	body := zb.Bytes()
	date := time.Now().UTC().Format(http.TimeFormat)
	md5hex := fmt.Sprintf("%X", md5.Sum(body))
	hdr := map[string]string{"x-log-apiversion": "0.6.0", "x-log-bodyrawsize": strconv.Itoa(len(raw)),
		"x-log-compresstype": "deflate", "x-log-signaturemethod": "hmac-sha1"}
	canon := "POST\n" + md5hex + "\napplication/x-protobuf\n" + date + "\n" +
		"x-log-apiversion:0.6.0\nx-log-bodyrawsize:" + hdr["x-log-bodyrawsize"] + "\nx-log-compresstype:deflate\nx-log-signaturemethod:hmac-sha1\n/logstores/store"
	mac := hmac.New(sha1.New, []byte(slslocal.TestAccessKeySecret))
	mac.Write([]byte(canon))
	req, _ := http.NewRequest("POST", "http://"+srv.Addr()+"/logstores/store", bytes.NewReader(body))
	req.Host = "proj." + srv.Addr()
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-MD5", md5hex)
	req.Header.Set("Date", date)
	req.Header.Set("Authorization", "LOG "+slslocal.TestAccessKeyID+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(b))
	assert.Equal(t, "deflated", stored(t, srv)[0]["content"])
}

func TestErrorsAreSLSJSON(t *testing.T) {
	srv := slslocal.Start(t, slslocal.Options{})
	resp, err := http.Post("http://"+srv.Addr()+"/logstores/store", "application/x-protobuf", strings.NewReader("x"))
	require.NoError(t, err)
	defer resp.Body.Close()
	var e map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "MissingHost", e["errorCode"])
	assert.NotEmpty(t, e["errorMessage"])
	assert.NotEmpty(t, resp.Header.Get("x-log-requestid"))
}

func TestFaults(t *testing.T) {
	srv := slslocal.Start(t, slslocal.Options{})
	c := sdkClient(srv, slssdk.AuthV1, slslocal.TestAccessKeySecret, "")
	put := func() error { return c.PutLogs("proj", "store", logGroup("a")) }
	code := func(err error) string {
		var se *slssdk.Error
		if errorsAs(err, &se) && se.HTTPCode > 0 {
			return fmt.Sprintf("%d %s", se.HTTPCode, se.Code)
		}
		if err != nil {
			return "network"
		}
		return "ok"
	}
	require.NoError(t, srv.InjectFault(slslocal.Fault{Status: 403, Code: "WriteQuotaExceed", Count: 2}))
	require.NoError(t, srv.InjectFault(slslocal.Fault{Reset: true}))
	require.NoError(t, srv.InjectFault(slslocal.Fault{Status: 500, After: 1, Count: 1}))
	var got []string
	for range 6 {
		got = append(got, code(put()))
	}
	// Faults apply in order; the 500 lets through one request that reaches
	// it (after the 403s and the reset) before it starts.
	assert.Equal(t, []string{"403 WriteQuotaExceed", "403 WriteQuotaExceed", "network", "ok", "500 InternalServerError", "ok"}, got)

	// Over HTTP.
	resp, err := http.Post("http://"+srv.Addr()+"/_local/faults", "application/json", strings.NewReader(`{"status":503,"forMs":300}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "503 ServerBusy", code(put()))
	time.Sleep(400 * time.Millisecond)
	assert.Equal(t, "ok", code(put()))
	resp, err = http.Post("http://"+srv.Addr()+"/_local/faults", "application/json", strings.NewReader(`{"stauts":503}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode, "unknown key")

	resp, err = http.Get("http://" + srv.Addr() + "/_local/stats")
	require.NoError(t, err)
	var st slslocal.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	assert.Equal(t, int64(3), st.Logs)
	assert.Equal(t, int64(1), st.Requests["reset"])

	resp, err = http.Get("http://" + srv.Addr() + "/_local/logs/proj/store")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 3, strings.Count(string(b), "\n"))
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		in      string
		want    slslocal.Fault
		wantErr string
	}{
		{in: "status=503,for=30s", want: slslocal.Fault{Status: 503, Code: "ServerBusy", Message: "injected fault: Service Unavailable", For: 30 * time.Second, ForMs: 30000}},
		{in: "status=403,code=WriteQuotaExceed,count=20", want: slslocal.Fault{Status: 403, Code: "WriteQuotaExceed", Message: "injected fault: Forbidden", Count: 20}},
		{in: "delay=2s,for=1m", want: slslocal.Fault{Delay: 2 * time.Second, DelayMs: 2000, For: time.Minute, ForMs: 60000}},
		{in: "reset=true,count=5", want: slslocal.Fault{Reset: true, Count: 5}},
		{in: "reset=true", want: slslocal.Fault{Reset: true, Count: 1}},
		{in: "status=503,forr=1s", wantErr: `unknown key "forr"`},
		{in: "count=3", wantErr: "fault does nothing"},
		{in: "status=200", wantErr: "want 300 to 599"},
		{in: "status", wantErr: "want key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := slslocal.ParseFault(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
