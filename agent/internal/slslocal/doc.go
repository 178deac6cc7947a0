// Package slslocal is a local endpoint that speaks Alibaba Cloud Log
// Service's PutLogs as the official Go SDK sends it, for tests, benchmarks
// and the quick start: no cloud account needed.
//
// It checks what the real service checks on a write: the project from the
// first label of the Host header, the v1 (LOG <id>:<hmac-sha1>) or v4
// (SLS4-HMAC-SHA256) signature against the configured key, Content-MD5 or
// x-log-content-sha256, the STS token when one is configured, the
// compression (lz4 block, zstd, deflate or none) against x-log-bodyrawsize,
// and the limits (4096 logs and MaxBodyBytes per LogGroup). Errors come back
// as SLS's JSON {"errorCode", "errorMessage"}.
//
// Accepted logs are appended as JSON lines to
// <Data>/<project>/<logstore>.jsonl, one object per log: its contents,
// "__time__" (seconds, as a string), "__time_ns__" when sent, "__topic__",
// "__source__" and each tag as "__tag__:<key>".
//
// Faults are injected on demand, from Go ([Server.InjectFault]) or over
// HTTP on the same address:
//
//	POST   /_local/faults   {"status":503,"code":"ServerBusy","count":10}
//	                        {"status":503,"forMs":30000}
//	                        {"delayMs":2000,"forMs":60000}
//	                        {"reset":true,"count":3}
//	                        {"status":503,"rate":0.05}   (5 % of requests, at random)
//	DELETE /_local/faults   clear every fault
//	GET    /_local/faults   the faults still active
//	GET    /_local/stats    requests by status, logs accepted
//	GET    /_local/logs/<project>/<logstore>   the stored JSON lines
//
// The admin paths answer only connections from loopback. With the keys
// anyone knows (DefaultAccessKeySecret, TestAccessKeySecret) a server
// listens only on loopback: see CheckListen.
package slslocal
