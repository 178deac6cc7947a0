package slslocal

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 5 << 20 // a LogGroup's raw size
	DefaultMaxLogs      = 4096
	// maxSkew is how far a request's date may be from the server's clock.
	maxSkew = 15 * time.Minute
)

// Options configure a Server.
type Options struct {
	// AccessKeyID and AccessKeySecret are the one key requests must be
	// signed with. Required.
	AccessKeyID, AccessKeySecret string
	// SecurityToken, when set, must come in x-acs-security-token (STS).
	SecurityToken string
	// Data is the folder accepted logs are stored in; empty keeps nothing
	// (the counters still count).
	Data string
	// Discard keeps nothing even with Data set (for benchmarks; Start
	// otherwise gives every server a folder).
	Discard bool
	// MaxBodyBytes bounds a LogGroup's raw (uncompressed) size. Default 5 MiB.
	MaxBodyBytes int
	// MaxLogs bounds the logs in a LogGroup. Default 4096.
	MaxLogs int
	// Print writes every accepted log as a JSON line to this writer.
	Print io.Writer
	// Log receives the server's log lines. Default: discarded.
	Log *slog.Logger
	// FaultSeed seeds the draws of faults with a Rate, so that the same
	// requests in the same order meet the same faults. 0 picks one at random.
	FaultSeed uint64
}

// Stats count what the endpoint saw.
type Stats struct {
	// Requests counts PutLogs requests by the status answered ("reset" for
	// connections closed on purpose).
	Requests map[string]int64 `json:"requests"`
	// Logs counts logs accepted, Bytes their raw LogGroup bytes.
	Logs  int64 `json:"logs"`
	Bytes int64 `json:"bytes"`
	// InFlight is the most requests served at the same time.
	MaxInFlight int64 `json:"maxInFlight"`
}

// Server is the local SLS endpoint.
type Server struct {
	opts Options
	log  *slog.Logger
	zstd *zstd.Decoder

	logs, bytes, inflight, maxInflight atomic.Int64

	mu       sync.Mutex
	faults   []Fault
	rng      *mrand.Rand // draws of rated faults
	requests map[string]int64
	stores   map[string]*store
	last     http.Header
	lastURI  string

	srv    *http.Server
	ln     net.Listener
	closed bool
}

type store struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	path string
}

// New returns a server for opts. It does not listen; see Serve and Start.
func New(opts Options) (*Server, error) {
	if opts.AccessKeyID == "" || opts.AccessKeySecret == "" {
		return nil, errors.New("slslocal: an access key ID and secret are required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxLogs <= 0 {
		opts.MaxLogs = DefaultMaxLogs
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, err
	}
	if opts.Data != "" {
		if err := os.MkdirAll(opts.Data, 0o755); err != nil {
			return nil, fmt.Errorf("slslocal: %w", err)
		}
	}
	return &Server{opts: opts, log: opts.Log, zstd: dec, requests: map[string]int64{}, stores: map[string]*store{},
		rng: newRand(opts.FaultSeed)}, nil
}

// Serve answers requests on ln until Close. It refuses a listener that is
// not on loopback while the keys are well-known ones (see CheckListen).
func (s *Server) Serve(ln net.Listener) error {
	if err := CheckListen(ln.Addr().String(), s.opts.AccessKeySecret, ""); err != nil {
		return fmt.Errorf("slslocal: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	srv := s.srv
	s.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Addr is the address the server listens on ("" before Serve).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops the server and flushes the stored logs.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	var errs []error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, srv.Close())
		}
		cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stores {
		st.mu.Lock()
		if st.f != nil {
			errs = append(errs, st.w.Flush(), st.f.Close())
			st.f = nil
		}
		st.mu.Unlock()
	}
	s.zstd.Close()
	return errors.Join(errs...)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := make(map[string]int64, len(s.requests))
	for k, v := range s.requests {
		req[k] = v
	}
	return Stats{Requests: req, Logs: s.logs.Load(), Bytes: s.bytes.Load(), MaxInFlight: s.maxInflight.Load()}
}

// LastHeaders returns the headers of the last PutLogs request that passed
// the signature check.
func (s *Server) LastHeaders() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Clone()
}

// LastURI returns the path and query of the last PutLogs request that
// passed the signature check.
func (s *Server) LastURI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastURI
}

// Flush writes buffered stored logs to their files.
func (s *Server) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.stores {
		st.mu.Lock()
		if st.w != nil {
			errs = append(errs, st.w.Flush())
		}
		st.mu.Unlock()
	}
	return errors.Join(errs...)
}

// LogsPath is the file the logs of project/logstore are stored in.
func (s *Server) LogsPath(project, logstore string) string {
	return filepath.Join(s.opts.Data, project, logstore+".jsonl")
}

// ReadLogs calls fn with each stored log of project/logstore, in arrival
// order. The map is reused between calls.
func (s *Server) ReadLogs(project, logstore string, fn func(map[string]string)) error {
	if err := s.Flush(); err != nil {
		return err
	}
	f, err := os.Open(s.LogsPath(project, logstore))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		rec := map[string]string{}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("%s: %w", f.Name(), err)
		}
		fn(rec)
	}
	return sc.Err()
}

func (s *Server) count(status string) {
	s.mu.Lock()
	s.requests[status]++
	s.mu.Unlock()
}

// ServeHTTP routes the admin paths and PutLogs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_local/") {
		if !fromLoopback(r) {
			adminRefused(w)
			return
		}
		s.admin(w, r)
		return
	}
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.maxInflight.Load()
		if n <= m || s.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	s.putLogs(w, r)
}

// slsError is an SLS error answer.
type slsError struct {
	status  int
	code    string
	message string
}

func errorf(status int, code, format string, args ...any) *slsError {
	return &slsError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func (s *Server) writeError(w http.ResponseWriter, e *slsError) {
	s.count(strconv.Itoa(e.status))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-log-requestid", requestID())
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorCode": e.code, "errorMessage": e.message})
}

func requestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// reset closes the client's connection with a TCP RST.
func (s *Server) reset(w http.ResponseWriter) {
	s.count("reset")
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Server) putLogs(w http.ResponseWriter, r *http.Request) {
	// Read the body first: then the server notices a client that goes away
	// while a delay runs.
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.opts.MaxBodyBytes)+1<<20))
	fault, faulty := s.takeFault()
	if faulty && fault.Delay > 0 && !fault.AfterStore {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if faulty && !fault.AfterStore {
		switch {
		case fault.Reset:
			s.reset(w)
			return
		case fault.Status != 0:
			s.writeError(w, &slsError{fault.Status, fault.Code, fault.Message})
			return
		}
	}
	if err != nil {
		s.writeError(w, errorf(400, "PostBodyInvalid", "read body: %v", err))
		return
	}
	if e := s.accept(r, body); e != nil {
		s.log.Info("PutLogs rejected", "status", e.status, "code", e.code, "message", e.message)
		s.writeError(w, e)
		return
	}
	if faulty && fault.AfterStore {
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case fault.Reset:
			s.reset(w)
			return
		case fault.Status != 0:
			s.writeError(w, &slsError{fault.Status, fault.Code, fault.Message})
			return
		}
	}
	s.count("200")
	w.Header().Set("x-log-requestid", requestID())
	w.WriteHeader(http.StatusOK)
}

// accept checks, decodes and stores one PutLogs request.
func (s *Server) accept(r *http.Request, body []byte) *slsError {
	if r.Method != http.MethodPost {
		return errorf(405, "MethodNotAllowed", "method %s is not allowed (only PutLogs is served)", r.Method)
	}
	logstore, ok := logstoreFromPath(r.URL.Path)
	if !ok {
		return errorf(404, "NotSupported", "path %s: only POST /logstores/<logstore>[/shards/lb|/shards/route] is served", r.URL.Path)
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	project, rest, ok := strings.Cut(host, ".")
	if !ok || project == "" || rest == "" || net.ParseIP(host) != nil {
		return errorf(400, "MissingHost", "the Host header %q does not start with a project name (<project>.<endpoint>)", r.Host)
	}
	rawSize, err := strconv.Atoi(r.Header.Get("x-log-bodyrawsize"))
	switch {
	case r.Header.Get("x-log-bodyrawsize") == "":
		return errorf(400, "MissingBodyRawSize", "x-log-bodyrawsize is missing")
	case err != nil || rawSize < 0:
		return errorf(400, "InvalidBodyRawSize", "x-log-bodyrawsize %q is not a size", r.Header.Get("x-log-bodyrawsize"))
	case r.Header.Get("x-log-apiversion") == "":
		return errorf(400, "MissingAPIVersion", "x-log-apiversion is missing")
	case r.Header.Get("Content-Type") == "":
		return errorf(400, "MissingContentType", "Content-Type is missing")
	case r.Header.Get("Content-Type") != "application/x-protobuf":
		return errorf(400, "InvalidContentType", "Content-Type %q: want application/x-protobuf", r.Header.Get("Content-Type"))
	case rawSize > s.opts.MaxBodyBytes || len(body) > s.opts.MaxBodyBytes+1<<19:
		return errorf(400, "PostBodyTooLarge", "body raw size %d exceeds the limit of %d bytes", rawSize, s.opts.MaxBodyBytes)
	}
	if e := s.authenticate(r, body); e != nil {
		return e
	}
	s.mu.Lock()
	s.last = r.Header.Clone()
	s.last.Set("Host", r.Host)
	s.lastURI = r.URL.RequestURI()
	s.mu.Unlock()

	raw, e := s.decompress(r.Header.Get("x-log-compresstype"), body, rawSize)
	if e != nil {
		return e
	}
	var n int
	if s.opts.Discard && s.opts.Print == nil {
		// Nothing to keep: count the logs without decoding them.
		if n, err = countLogs(raw); err != nil {
			return errorf(400, "PostBodyInvalid", "the body is not a LogGroup: %v", err)
		}
	} else {
		var lg slssdk.LogGroup
		if err := lg.Unmarshal(raw); err != nil {
			return errorf(400, "PostBodyInvalid", "the body is not a LogGroup: %v", err)
		}
		n = len(lg.Logs)
		if n <= s.opts.MaxLogs {
			if err := s.store(project, logstore, &lg); err != nil {
				return errorf(500, "InternalServerError", "store: %v", err)
			}
		}
	}
	if n > s.opts.MaxLogs {
		return errorf(400, "PostBodyInvalid", "%d logs in one LogGroup exceed the limit of %d", n, s.opts.MaxLogs)
	}
	s.logs.Add(int64(n))
	s.bytes.Add(int64(len(raw)))
	return nil
}

// countLogs counts the Logs fields (1) of an encoded LogGroup, checking
// only its top-level framing.
func countLogs(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		key, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, errors.New("bad field key")
		}
		b = b[k:]
		switch key & 7 {
		case 0:
			_, k = binary.Uvarint(b)
			if k <= 0 {
				return 0, errors.New("bad varint")
			}
			b = b[k:]
		case 1:
			if len(b) < 8 {
				return 0, errors.New("truncated fixed64")
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return 0, errors.New("truncated fixed32")
			}
			b = b[4:]
		case 2:
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return 0, errors.New("bad length")
			}
			b = b[k+int(l):]
		default:
			return 0, fmt.Errorf("wire type %d", key&7)
		}
		if key>>3 == 1 {
			n++
		}
	}
	return n, nil
}

func logstoreFromPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/logstores/")
	if !ok {
		return "", false
	}
	name, sub, _ := strings.Cut(rest, "/")
	switch sub {
	case "", "shards/lb", "shards/route":
	default:
		return "", false
	}
	return name, name != ""
}

func (s *Server) decompress(typ string, body []byte, rawSize int) ([]byte, *slsError) {
	var raw []byte
	switch typ {
	case "", "none":
		raw = body
	case "lz4":
		raw = make([]byte, rawSize)
		n, err := lz4.UncompressBlock(body, raw)
		if err != nil {
			return nil, errorf(400, "PostBodyUncompressError", "lz4: %v", err)
		}
		raw = raw[:n]
	case "zstd":
		out, err := s.zstd.DecodeAll(body, make([]byte, 0, rawSize))
		if err != nil {
			return nil, errorf(400, "PostBodyUncompressError", "zstd: %v", err)
		}
		raw = out
	case "deflate":
		// SLS's deflate is zlib's format (RFC 1950); accept raw deflate too.
		var rd io.ReadCloser
		rd, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			rd = flate.NewReader(bytes.NewReader(body))
		}
		out, err := io.ReadAll(io.LimitReader(rd, int64(rawSize)+1))
		rd.Close()
		if err != nil {
			return nil, errorf(400, "PostBodyUncompressError", "deflate: %v", err)
		}
		raw = out
	default:
		return nil, errorf(400, "InvalidCompressType", "x-log-compresstype %q: want lz4, zstd or deflate", typ)
	}
	if len(raw) != rawSize {
		return nil, errorf(400, "PostBodyUncompressError", "the body is %d bytes uncompressed, x-log-bodyrawsize says %d", len(raw), rawSize)
	}
	return raw, nil
}

// authenticate checks the signature, the body digest and the STS token.
func (s *Server) authenticate(r *http.Request, body []byte) *slsError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errorf(401, "Unauthorized", "the Authorization header is missing")
	}
	if tok := s.opts.SecurityToken; tok != "" && r.Header.Get("x-acs-security-token") != tok {
		return errorf(401, "SecurityTokenExpired", "the security token is missing, expired or wrong")
	}
	switch {
	case strings.HasPrefix(auth, "LOG "):
		return s.checkV1(r, body, strings.TrimPrefix(auth, "LOG "))
	case strings.HasPrefix(auth, "SLS4-HMAC-SHA256 "):
		return s.checkV4(r, body, strings.TrimPrefix(auth, "SLS4-HMAC-SHA256 "))
	}
	return errorf(401, "Unauthorized", "unknown Authorization scheme %q", strings.SplitN(auth, " ", 2)[0])
}

func (s *Server) checkV1(r *http.Request, body []byte, cred string) *slsError {
	akid, sig, ok := strings.Cut(cred, ":")
	if !ok {
		return errorf(401, "Unauthorized", "bad Authorization: want LOG <AccessKeyId>:<Signature>")
	}
	if akid != s.opts.AccessKeyID {
		return errorf(401, "Unauthorized", "AccessKeyId %q is not found", akid)
	}
	if sm := r.Header.Get("x-log-signaturemethod"); sm != "hmac-sha1" {
		return errorf(400, "InvalidSignatureMethod", "x-log-signaturemethod %q: want hmac-sha1", sm)
	}
	md5hex := r.Header.Get("Content-MD5")
	if len(body) > 0 {
		sum := md5.Sum(body)
		if !strings.EqualFold(md5hex, hex.EncodeToString(sum[:])) {
			return errorf(400, "InvalidContentMD5", "Content-MD5 %q does not match the body", md5hex)
		}
	}
	date := r.Header.Get("Date")
	t, err := http.ParseTime(date)
	switch {
	case date == "":
		return errorf(400, "MissingDate", "the Date header is missing")
	case err != nil:
		return errorf(400, "InvalidDateFormat", "Date %q: %v", date, err)
	case absDuration(time.Since(t)) > maxSkew:
		return errorf(400, "RequestTimeTooSkewed", "Date %q is more than %s from the server's time", date, maxSkew)
	}
	var keys []string
	vals := map[string]string{}
	for k, v := range r.Header {
		l := strings.ToLower(k)
		if strings.HasPrefix(l, "x-log-") || strings.HasPrefix(l, "x-acs-") {
			keys = append(keys, l)
			vals[l] = strings.TrimSpace(v[0])
		}
	}
	sort.Strings(keys)
	var sb strings.Builder
	sb.WriteString(r.Method + "\n" + md5hex + "\n" + r.Header.Get("Content-Type") + "\n" + date + "\n")
	for i, k := range keys {
		sb.WriteString(k + ":" + vals[k])
		if i+1 < len(keys) {
			sb.WriteByte('\n')
		}
	}
	sb.WriteByte('\n')
	sb.WriteString(r.URL.EscapedPath())
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		qk := make([]string, 0, len(q))
		for k := range q {
			qk = append(qk, k)
		}
		sort.Strings(qk)
		sb.WriteByte('?')
		for i, k := range qk {
			if i > 0 {
				sb.WriteByte('&')
			}
			for _, v := range q[k] {
				sb.WriteString(k + "=" + v)
			}
		}
	}
	mac := hmac.New(sha1.New, []byte(s.opts.AccessKeySecret))
	mac.Write([]byte(sb.String()))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errorf(401, "SignatureNotMatch", "the v1 signature does not match")
	}
	return nil
}

func (s *Server) checkV4(r *http.Request, body []byte, rest string) *slsError {
	var credential, signature string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "Signature":
			signature = v
		}
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[3] != "sls" || scope[4] != "aliyun_v4_request" || signature == "" {
		return errorf(401, "Unauthorized", "bad v4 Authorization: want Credential=<id>/<date>/<region>/sls/aliyun_v4_request,Signature=<hex>")
	}
	akid, date, region := scope[0], scope[1], scope[2]
	if akid != s.opts.AccessKeyID {
		return errorf(401, "Unauthorized", "AccessKeyId %q is not found", akid)
	}
	dateTime := r.Header.Get("x-log-date")
	t, err := time.Parse("20060102T150405Z", dateTime)
	switch {
	case dateTime == "":
		return errorf(400, "MissingDate", "the x-log-date header is missing")
	case err != nil || !strings.HasPrefix(dateTime, date):
		return errorf(400, "InvalidDateFormat", "x-log-date %q does not match the credential's date %q", dateTime, date)
	case absDuration(time.Since(t)) > maxSkew:
		return errorf(400, "RequestTimeTooSkewed", "x-log-date %q is more than %s from the server's time", dateTime, maxSkew)
	}
	payload := r.Header.Get("x-log-content-sha256")
	sum := sha256.Sum256(body)
	if len(body) == 0 {
		if payload == "" {
			payload = hex.EncodeToString(sum[:])
		}
	} else if payload != hex.EncodeToString(sum[:]) {
		return errorf(400, "InvalidContentSha256", "x-log-content-sha256 does not match the body")
	}
	var keys []string
	vals := map[string]string{}
	for k, v := range r.Header {
		l := strings.ToLower(k)
		if (strings.HasPrefix(l, "x-log-") && !strings.HasPrefix(l, "x-log-meta-")) || strings.HasPrefix(l, "x-acs-") || l == "content-type" {
			keys = append(keys, l)
			vals[l] = v[0]
		}
	}
	keys = append(keys, "host")
	vals["host"] = r.Host
	sort.Strings(keys)
	var canon strings.Builder
	canon.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n")
	q := r.URL.Query()
	qk := make([]string, 0, len(q))
	for k := range q {
		qk = append(qk, k)
	}
	sort.Strings(qk)
	for i, k := range qk {
		if i > 0 {
			canon.WriteByte('&')
		}
		canon.WriteString(k)
		if v := q[k][0]; v != "" {
			canon.WriteString("=" + strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
		}
	}
	canon.WriteByte('\n')
	for _, k := range keys {
		canon.WriteString(k + ":" + vals[k] + "\n")
	}
	canon.WriteString("\n" + strings.Join(keys, ";") + "\n" + payload)
	scopeStr := date + "/" + region + "/sls/aliyun_v4_request"
	creq := sha256.Sum256([]byte(canon.String()))
	toSign := "SLS4-HMAC-SHA256\n" + dateTime + "\n" + scopeStr + "\n" + hex.EncodeToString(creq[:])
	key := hmacSHA256([]byte("aliyun_v4"+s.opts.AccessKeySecret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, "sls")
	key = hmacSHA256(key, "aliyun_v4_request")
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(signature), []byte(want)) {
		return errorf(401, "SignatureNotMatch", "the v4 signature does not match")
	}
	return nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
