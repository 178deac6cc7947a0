package sls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
)

// Backoff between retries of one request: from minBackoff, doubling, capped
// at maxBackoff, each step jittered.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// metaAllowance is what a LogGroup's metadata may add to its logs' size
// besides the tags counted exactly (the pack ID's varying length).
const metaAllowance = 64

// sender delivers one batch in one Export call.
type sender struct {
	f        *Flusher
	b        *batch.Batch
	ctx      context.Context
	deadline time.Time
	meta     groupMeta
	hashKey  string
	// done is the index of the first record not yet accepted.
	done    int
	retries int
	// bodyLens[i] is the logBodyLen of record i (from done on).
	bodyLens []int
}

var lensPool = sync.Pool{New: func() any { return new([]int) }}

// run sends the records from s.done on, in requests within the size and
// count limits.
func (s *sender) run() error {
	recs := s.b.Records
	nanos := s.f.set.TimestampNanosecond
	base := s.meta.len() + metaAllowance
	// Each record's encoded size, computed once for both the request
	// boundaries and the encoding.
	lp := lensPool.Get().(*[]int)
	defer lensPool.Put(lp)
	lens := (*lp)[:0]
	for i := range recs {
		n := 0
		if i >= s.done {
			n = logBodyLen(&recs[i], nanos)
		}
		lens = append(lens, n)
	}
	*lp = lens
	s.bodyLens = lens
	for s.done < len(recs) {
		lo, hi, size := s.done, s.done, base
		for hi < len(recs) && hi-lo < s.f.cfg.MaxBatchLogs {
			n := fieldLen(lens[hi])
			if hi > lo && size+n > s.f.cfg.MaxBatchBytes {
				break
			}
			size += n
			hi++
		}
		if err := s.send(lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// send delivers records [lo, hi) (starting at s.done), splitting the range
// when the endpoint rejects it for good, and retrying retryable failures
// until s.deadline.
func (s *sender) send(lo, hi int) error {
	backoff := minBackoff
	for {
		err := s.put(lo, hi)
		if err == nil {
			s.done = hi
			return nil
		}
		if cerr := s.ctx.Err(); cerr != nil {
			return fmt.Errorf("%w (last error: %v)", cerr, err)
		}
		var se *slssdk.Error
		errors.As(err, &se)
		switch classify(se) {
		case rejected:
			if hi-lo == 1 {
				if derr := s.f.deadLetter(s.b, lo, se); derr != nil {
					return derr // retried: the log must land somewhere
				}
				s.done = hi
				return nil
			}
			mid := lo + (hi-lo)/2
			if err := s.send(lo, mid); err != nil {
				return err
			}
			return s.send(mid, hi)
		case unauthorized:
			_, _ = s.f.creds.get(true) // rotated credentials, perhaps
		}
		if s.retries == 0 {
			s.f.log.Warn("PutLogs failed, retrying", "pipeline", s.f.set.Pipeline, "file", sourcePath(s.b),
				"offset", s.b.Begin, "logs", hi-lo, "err", describeErr(err))
		}
		s.retries++
		d := jitter(backoff)
		if time.Now().Add(d).After(s.deadline) {
			return fmt.Errorf("PutLogs: %s (still failing after %s; the pipeline retries)", describeErr(err), s.f.retry)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %s)", s.ctx.Err(), describeErr(err))
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// put sends records [lo, hi) in one PutLogs request.
func (s *sender) put(lo, hi int) error {
	f := s.f
	cred, err := f.creds.get(false)
	if err != nil {
		return err
	}
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 8<<20 {
			bufPool.Put(bp)
		}
	}()
	m := s.meta
	m.tags = append(make([]batch.Tag, 0, len(s.meta.tags)+1), s.meta.tags...)
	m.tags = append(m.tags, batch.Tag{Key: PackIDTag, Value: f.nextPackID(s.b.Source)})
	raw := appendLogGroup((*bp)[:0], s.b.Records[lo:hi], s.bodyLens[lo:hi], &m, f.set.TimestampNanosecond)
	*bp = raw
	// Compress here, into a pooled buffer, rather than in the SDK (which
	// allocates and zeroes a new buffer per request): the body goes to the
	// SDK as "uncompressed" and the two headers that describe it are
	// InnerHeaders, which the SDK sets before it signs.
	body, inner, release, err := f.compressBody(raw)
	if err != nil {
		return err
	}
	defer release()

	ctx, cancel := context.WithTimeout(s.ctx, f.timeout)
	defer cancel()
	c := &slssdk.Client{
		Endpoint:        f.endpoint,
		AccessKeyID:     cred.AccessKeyID,
		AccessKeySecret: cred.AccessKeySecret,
		SecurityToken:   cred.SecurityToken,
		UserAgent:       UserAgent,
		RequestTimeOut:  f.timeout,
		RetryTimeOut:    f.timeout + 10*time.Second, // the SDK's retry loop; it tries once
		HTTPClient:      &http.Client{Transport: ctxTransport{base: f.roundTrip, ctx: ctx}},
		Region:          f.cfg.Region,
		AuthVersion:     slssdk.AuthVersionType(f.cfg.AuthVersion),
		InnerHeaders:    inner,
	}
	var hk *string
	if s.hashKey != "" {
		hk = &s.hashKey
	}
	err = c.PostRawLogWithCompressType(f.cfg.Project, f.cfg.Logstore, body, slssdk.Compress_None, hk)
	f.requests.WithLabelValues(statusLabel(err)).Inc()
	return err
}

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// ctxTransport gives every request the context of the Export that sends it
// (the SDK builds requests without one), so that a shutdown or the request
// timeout cancels it.
type ctxTransport struct {
	base http.RoundTripper
	ctx  context.Context
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}

// errClass is what to do about a failed request.
type errClass int

const (
	retryable errClass = iota
	unauthorized
	rejected // for good: split, dead-letter a single log
)

// requestLevel400 are 400 codes about the request rather than its logs:
// splitting would not help, so they are retried (and logged).
var requestLevel400 = []string{
	"RequestTimeTooSkewed", "RequestTimeExpired", "MissingDate", "InvalidDateFormat", "MissingAPIVersion",
	"InvalidAPIVersion", "MissingContentLength", "MissingContentType", "InvalidContentType",
	"MissingBodyRawSize", "MissingHost", "MissAccessKeyId", "MissingSignatureMethod",
	"InvalidSignatureMethod", "ProjectNotExist", "LogStoreNotExist", "ShardNotExist",
}

// classify sorts an SDK error. Network errors, timeouts and responses that
// are not SLS JSON come back from the SDK as a "ClientError" with HTTPCode
// -1: retryable. So are 5xx, 403 (quota, or a permission being granted),
// 404 (a logstore being created) and 429. 401 is retryable after the
// credentials are read again. A 400 or 413 about the logs is rejected.
func classify(e *slssdk.Error) errClass {
	if e == nil {
		return retryable
	}
	switch {
	case e.HTTPCode == http.StatusUnauthorized:
		return unauthorized
	case e.HTTPCode == http.StatusRequestEntityTooLarge:
		return rejected
	case e.HTTPCode == http.StatusBadRequest && !slices.Contains(requestLevel400, e.Code):
		return rejected
	}
	return retryable
}

// statusLabel is the status label of a request's outcome.
func statusLabel(err error) string {
	if err == nil {
		return "200"
	}
	var se *slssdk.Error
	if errors.As(err, &se) && se.HTTPCode > 0 {
		return strconv.Itoa(int(se.HTTPCode))
	}
	return "network"
}

// describeErr is a one-line description of an SDK error (its Error method
// prints indented JSON).
func describeErr(err error) string {
	var se *slssdk.Error
	if errors.As(err, &se) {
		if se.HTTPCode > 0 {
			return fmt.Sprintf("%d %s: %s (request %s)", se.HTTPCode, se.Code, se.Message, se.RequestID)
		}
		return se.Message
	}
	return err.Error()
}

// sourcePath is the file a batch came from, for log lines.
func sourcePath(b *batch.Batch) string {
	if b.Source == nil {
		return ""
	}
	return b.Source.Path
}
