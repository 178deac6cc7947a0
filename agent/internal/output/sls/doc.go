// Package sls is flusher_sls: it sends batches to an Alibaba Cloud Log
// Service (SLS) logstore with PutLogs, through the official Go SDK's client
// (github.com/aliyun/aliyun-log-go-sdk), and acknowledges a batch only after
// the endpoint answered 200 for every one of its records.
//
// # Delivery
//
// Export encodes the batch's records as protobuf LogGroups (at most
// MaxBatchLogs logs and about MaxBatchBytes each, so one file chunk is
// usually one request), and sends them in order. A retryable failure (a 5xx,
// 403 quota errors, 401 while credentials rotate, 404 while a logstore is
// being created, timeouts, connection resets) is retried with exponential
// backoff and full jitter for up to RetrySecs; then Export returns the error
// and the pipeline calls it again later, and the requests that already
// succeeded are not sent again (Export remembers how far the batch got). A
// request rejected for good (a 400 about its content, e.g. a log over the
// size limit) is split in halves until the bad log stands alone; that log
// goes to the dead-letter file with a counter and a log line naming the
// pipeline, the file and the offset, and the others are sent.
//
// # Wire
//
// The SDK's own retries are turned off (sls.RetryOnServerErrorEnabled), so
// every request is attempted exactly once by the SDK and retried here. The
// LogGroup is encoded by this package (no per-log allocation) and handed to
// the SDK as raw bytes; the SDK compresses it (an LZ4 block or a zstd frame),
// signs it (v1 or v4) and posts it to http(s)://<project>.<endpoint>. For an
// endpoint given as IP:port or localhost:port, the HTTP client dials that
// address whatever the URL's host is, so the Host header stays
// <project>.<endpoint>. (An https:// endpoint is verified against the name
// <project>.<endpoint>, so an IP address with https needs a certificate for
// that name.)
//
// # Batching and throughput
//
// A batch is one chunk of one file (up to 512 KiB), acknowledged as a whole,
// so it is sent as it is: one request (split only past MaxBatchLogs or
// MaxBatchBytes), with no timer and no accumulation across batches, whose
// acknowledgement would have to wait for the others. LoongCollector does
// the same for files whose checkpoint follows delivery. Requests of one
// pipeline worker are sequential, so against a distant endpoint throughput
// is about a chunk per round trip per worker: set the pipeline's global
// Workers (4 to 8) for a remote region. Measured against the local endpoint
// answering 20 ms late: 11 MB/s with 1 worker, 41 MB/s with 4.
package sls
