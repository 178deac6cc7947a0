package sls

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
)

// ErrNotRunning is returned by Export before Start or after Shutdown.
var ErrNotRunning = errors.New("flusher not running")

// PackIDTag is the tag that lets the SLS console show a log in its context:
// "<prefix>-<sequence>", the prefix in upper-case hex naming the source (one
// file of one pipeline on one host, in this process), the sequence in
// lower-case hex counting that source's log groups, as Logtail sends it.
const PackIDTag = "__pack_id__"

// UserAgent is sent with every request.
const UserAgent = "wasmtail-flusher-sls"

// Settings are what a flusher_sls gets from the agent rather than its config.
type Settings struct {
	// Name names the flusher in errors, e.g. `pipeline "web" flusher 0
	// (flusher_sls)`.
	Name string
	// Pipeline and Flusher label the metrics and log lines.
	Pipeline, Flusher string
	// DataDir is the agent's data folder; the default dead-letter file is
	// DataDir/deadletter/<pipeline>.jsonl.
	DataDir string
	// TimestampNanosecond sends each log's nanoseconds (Log.TimeNs).
	TimestampNanosecond bool
	// Log receives the flusher's log lines. Default slog.Default().
	Log *slog.Logger
	// Metrics are the agent's metrics. Default: a private set.
	Metrics *metrics.Metrics
	// Credentials are static credentials; CredentialsFile, when set, is
	// read instead (and again when it changes).
	Credentials     config.SLSCredentials
	CredentialsFile string
	// HostIP is sent as __source__. Default: the host's first non-loopback
	// IPv4 address.
	HostIP string
}

// Flusher is flusher_sls. It is safe for concurrent Export calls.
type Flusher struct {
	cfg       config.FlusherSLS
	set       Settings
	log       *slog.Logger
	creds     *credentials
	endpoint  string // as the SDK takes it
	transport *http.Transport
	// roundTrip sends the requests: transport, or a test's stand-in.
	roundTrip http.RoundTripper
	compress  int
	retry     time.Duration
	timeout   time.Duration
	deadPath  string
	nonce     uint64

	requests *prometheus.CounterVec // status
	dead     prometheus.Counter

	mu       sync.Mutex
	running  bool
	closed   bool
	deadFile *os.File
	resume   map[*batch.Batch]resumePoint
	packs    map[string]*packSeq
}

// resumePoint is how far a batch got in an Export that failed: records
// before done were accepted (or dead-lettered) and are not sent again.
type resumePoint struct {
	src        *batch.Source
	begin, end int64
	n, done    int
}

type packSeq struct {
	prefix string
	seq    uint64
}

var disableSDKRetries sync.Once

// New returns a flusher_sls for cfg, which must be valid. It does no I/O.
func New(cfg config.FlusherSLS, set Settings) (*Flusher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", set.Name, err)
	}
	// Every request is attempted once by the SDK; this package retries.
	disableSDKRetries.Do(func() { slssdk.RetryOnServerErrorEnabled = false })
	if set.Log == nil {
		set.Log = slog.Default()
	}
	if set.Metrics == nil {
		set.Metrics = metrics.New()
	}
	if set.Flusher == "" {
		set.Flusher = "flusher_sls"
	}
	if set.HostIP == "" {
		set.HostIP = hostIP()
	}
	f := &Flusher{
		cfg:     cfg,
		set:     set,
		log:     set.Log.With("flusher", set.Flusher, "project", cfg.Project, "logstore", cfg.Logstore),
		creds:   newCredentials(set.Credentials, set.CredentialsFile),
		retry:   time.Duration(cfg.RetrySecs) * time.Second,
		timeout: time.Duration(cfg.RequestTimeoutSecs) * time.Second,
		nonce:   uint64(time.Now().UnixNano()),
		resume:  map[*batch.Batch]resumePoint{},
		packs:   map[string]*packSeq{},
	}
	switch cfg.CompressType {
	case "zstd":
		f.compress = slssdk.Compress_ZSTD
	case "none":
		f.compress = slssdk.Compress_None
	default:
		f.compress = slssdk.Compress_LZ4
	}
	var dial string
	f.endpoint, dial = parseEndpoint(cfg.Endpoint)
	f.transport = newTransport(dial)
	f.roundTrip = f.transport
	f.deadPath = cfg.DeadLetterFile
	switch {
	case f.deadPath == "":
		f.deadPath = filepath.Join(set.DataDir, "deadletter", safeName(set.Pipeline)+".jsonl")
	case !filepath.IsAbs(f.deadPath):
		f.deadPath = filepath.Join(set.DataDir, f.deadPath)
	}
	f.requests = set.Metrics.FlusherRequests.MustCurryWith(prometheus.Labels{"pipeline": set.Pipeline, "flusher": set.Flusher})
	f.dead = set.Metrics.DeadLetters.WithLabelValues(set.Pipeline, set.Flusher)
	return f, nil
}

// parseEndpoint returns the endpoint as the SDK takes it and, for an
// endpoint that is an IP address or localhost, the address to dial.
func parseEndpoint(ep string) (sdkEndpoint, dial string) {
	ep = strings.TrimSpace(ep)
	host, port := ep, "80"
	switch {
	case strings.HasPrefix(ep, "https://"):
		host, port = strings.TrimPrefix(ep, "https://"), "443"
	case strings.HasPrefix(ep, "http://"):
		host = strings.TrimPrefix(ep, "http://")
	}
	h := host
	if hh, p, err := net.SplitHostPort(host); err == nil {
		h, port = hh, p
	}
	if net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		dial = net.JoinHostPort(h, port)
	}
	return ep, dial
}

// newTransport returns the HTTP transport every request of the flusher
// goes through; with dial set it connects there whatever the URL's host.
//
// A request leaves in one write when it fits the 128 KiB write buffer (a
// 512 KiB batch of log lines compresses to about 80 KiB); a larger body
// is copied to the connection through a pooled buffer (see copyConn).
func newTransport(dial string) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 55 * time.Second // under SLS's idle timeout
	t.WriteBufferSize = 128 << 10
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second} // as http.DefaultTransport's
	if dial != "" {
		d.Timeout = 10 * time.Second
		t.Proxy = nil // an address is meant to be reached directly
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dial != "" {
			addr = dial
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return copyConn{c}, nil
	}
	return t
}

// copyConn is a connection whose ReadFrom, which the transport calls for
// the part of a request body past its write buffer, copies through a
// pooled buffer instead of allocating 32 KiB per request (as
// net.TCPConn's does for a reader that is neither a file nor a socket).
type copyConn struct{ net.Conn }

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func (c copyConn) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{c.Conn}, r, *bp)
}

// Start checks that credentials exist. It does not contact the endpoint.
func (f *Flusher) Start(context.Context) error {
	if _, err := f.creds.get(true); err != nil {
		return fmt.Errorf("%s: %w", f.set.Name, err)
	}
	c, _ := f.creds.get(false)
	if c.AccessKeyID == "" || c.AccessKeySecret == "" {
		return fmt.Errorf("%s: no credentials: set %s and %s (or the agent's sls_credentials_file)",
			f.set.Name, config.EnvAccessKeyID, config.EnvAccessKeySecret)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("%s: %w", f.set.Name, ErrNotRunning)
	}
	f.running = true
	return nil
}

// Shutdown stops accepting batches and closes the dead-letter file and idle
// connections. Requests in flight finish or fail with their Export's ctx.
// It is idempotent and safe without Start.
func (f *Flusher) Shutdown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed, f.running = true, false
	f.transport.CloseIdleConnections()
	clear(f.resume)
	if f.deadFile != nil {
		err := f.deadFile.Close()
		f.deadFile = nil
		if err != nil {
			return fmt.Errorf("%s: close dead-letter file: %w", f.set.Name, err)
		}
	}
	return nil
}

// Export sends b's records and returns nil once the endpoint accepted all
// of them (or the ones it rejected for good are in the dead-letter file).
// On a retryable failure it retries for up to RetrySecs, then returns an
// error; calling it again with the same batch resumes where it stopped.
func (f *Flusher) Export(ctx context.Context, b *batch.Batch) error {
	f.mu.Lock()
	running := f.running
	rp, resumed := f.resume[b]
	f.mu.Unlock()
	if !running {
		return fmt.Errorf("%s: %w", f.set.Name, ErrNotRunning)
	}
	if len(b.Records) == 0 {
		return nil
	}
	start := 0
	if resumed && rp.src == b.Source && rp.begin == b.Begin && rp.end == b.End && rp.n == len(b.Records) {
		start = rp.done
	}
	s := sender{f: f, b: b, ctx: ctx, deadline: time.Now().Add(f.retry), done: start, meta: f.meta(b)}
	if len(f.cfg.ShardHashKeys) > 0 {
		s.hashKey = f.hashKey(b)
	}
	err := s.run()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && ctx.Err() == nil && f.running {
		f.resume[b] = resumePoint{src: b.Source, begin: b.Begin, end: b.End, n: len(b.Records), done: s.done}
	} else {
		delete(f.resume, b) // delivered, or abandoned by the pipeline
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f.set.Name, err)
	}
	if s.retries > 0 {
		f.log.Info("batch delivered after retries", "pipeline", f.set.Pipeline, "file", sourcePath(b),
			"offset", b.Begin, "retries", s.retries)
	}
	return nil
}

// meta is the LogGroup metadata of b, without the pack ID.
func (f *Flusher) meta(b *batch.Batch) groupMeta {
	m := groupMeta{topic: f.cfg.Topic, source: f.set.HostIP}
	if b.Source != nil {
		m.tags = b.Source.Tags
	}
	return m
}

// hashKey is the shard hash key of b: the MD5 of the ShardHashKeys tags'
// values joined by "_", in upper-case hex, as LoongCollector computes it.
func (f *Flusher) hashKey(b *batch.Batch) string {
	var sb strings.Builder
	for i, k := range f.cfg.ShardHashKeys {
		if i > 0 {
			sb.WriteByte('_')
		}
		if b.Source != nil {
			for _, t := range b.Source.Tags {
				if t.Key == k {
					sb.WriteString(t.Value)
					break
				}
			}
		}
	}
	sum := md5.Sum([]byte(sb.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// nextPackID returns the __pack_id__ of the next log group of src.
func (f *Flusher) nextPackID(src *batch.Source) string {
	var key string
	if src != nil {
		key = src.Pipeline + "\x00" + src.Path
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ps := f.packs[key]
	if ps == nil {
		if len(f.packs) >= 16384 {
			clear(f.packs) // rotated-away files; new prefixes start fresh sequences
		}
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", key, f.set.HostIP, f.cfg.Logstore, f.nonce)
		ps = &packSeq{prefix: fmt.Sprintf("%016X", h.Sum64())}
		f.packs[key] = ps
	}
	id := ps.prefix + "-" + strconv.FormatUint(ps.seq, 16)
	ps.seq++
	return id
}

// hostIP returns the host's first non-loopback IPv4 address.
func hostIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// safeName makes a pipeline name usable as a file name.
func safeName(s string) string {
	if s == "" {
		return "pipeline"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, s)
}

// jitter returns a random duration in [d/2, d] (full jitter around the
// exponential step, as the pipeline does).
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
