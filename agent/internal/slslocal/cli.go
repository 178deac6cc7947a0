package slslocal

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Usage is the help of the sls-local command.
const Usage = `wasmtail sls-local: a local endpoint that accepts SLS PutLogs as the real service does.

Usage:
  wasmtail sls-local [--listen 127.0.0.1:9871] [--data DIR] [--print] [--discard]
                     [--access-key-id ID --access-key-secret SECRET] [--security-token TOKEN]
                     [--max-body-bytes N] [--fault SPEC]... [--fault-seed N]

Point a flusher_sls at it with Endpoint: <listen address> (the Host header stays
<project>.<address>), and give the agent the same keys in ALIBABA_CLOUD_ACCESS_KEY_ID
and ALIBABA_CLOUD_ACCESS_KEY_SECRET. Accepted logs go to DIR/<project>/<logstore>.jsonl.

The default keys (local, local-secret) are well known: with them sls-local listens only
on loopback; a --listen address such as 0.0.0.0:9871 needs keys of your own. The admin
API (/_local/) answers only connections from loopback, whatever the address.

Faults (--fault, or POST /_local/faults with JSON) are comma-separated key=value:
  status=503,for=30s              answer 503 ServerBusy for 30 seconds
  status=403,code=WriteQuotaExceed,count=20
  status=401,count=1
  reset=true,count=5              close 5 connections with a TCP reset
  delay=2s,for=1m                 answer every request 2 seconds late for a minute
  status=503,afterStore=true      store the logs, then answer 503 (a lost response)
  status=503,rate=0.05            answer 503 to 5 % of requests, drawn at random, until cleared
A request a rated fault passes over goes on to the next fault. --fault-seed seeds the
draws (default: random, logged at start), so the same requests meet the same faults.

Admin: GET /_local/stats, GET|POST|DELETE /_local/faults, GET /_local/logs/<project>/<logstore>.
`

// Main runs the sls-local command until SIGINT or SIGTERM and returns the
// exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sls-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage) }
	listen := fs.String("listen", "127.0.0.1:9871", "address to listen on")
	data := fs.String("data", "", "folder to store accepted logs in (default: keep none)")
	print := fs.Bool("print", false, "print every accepted log as a JSON line on standard output")
	discard := fs.Bool("discard", false, "check and count requests but keep nothing (for benchmarks)")
	akid := fs.String("access-key-id", envOr("ALIBABA_CLOUD_ACCESS_KEY_ID", DefaultAccessKeyID), "the AccessKeyId requests must be signed with")
	secret := fs.String("access-key-secret", envOr("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DefaultAccessKeySecret), "the AccessKeySecret requests must be signed with")
	token := fs.String("security-token", "", "an STS token requests must carry (default: none required)")
	maxBody := fs.Int("max-body-bytes", DefaultMaxBodyBytes, "the largest LogGroup accepted, uncompressed")
	faultSeed := fs.Uint64("fault-seed", 0, "seed of the random draws of faults with a rate (0: random)")
	var faults []Fault
	fs.Func("fault", "inject a fault (repeatable), e.g. status=503,for=30s", func(s string) error {
		f, err := ParseFault(s)
		if err != nil {
			return err
		}
		faults = append(faults, f)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *faultSeed == 0 {
		*faultSeed = rand.Uint64() | 1
	}
	opts := Options{AccessKeyID: *akid, AccessKeySecret: *secret, SecurityToken: *token, Data: *data,
		MaxBodyBytes: *maxBody, Log: log, Discard: *discard, FaultSeed: *faultSeed}
	if *print {
		opts.Print = stdout
	}
	s, err := New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "wasmtail sls-local: %v\n", err)
		return 1
	}
	for _, f := range faults {
		if err := s.InjectFault(f); err != nil {
			fmt.Fprintf(stderr, "wasmtail sls-local: %v\n", err)
			return 2
		}
	}
	if err := CheckListen(*listen, *secret, " with --access-key-id and --access-key-secret (or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET)"); err != nil {
		fmt.Fprintf(stderr, "wasmtail sls-local: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "wasmtail sls-local: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = s.Close()
	}()
	log.Info("sls-local listening", "addr", ln.Addr().String(), "data", *data,
		"endpoint", ln.Addr().String(), "access_key_id", *akid, "faults", len(faults), "fault_seed", *faultSeed)
	if err := s.Serve(ln); err != nil {
		fmt.Fprintf(stderr, "wasmtail sls-local: %v\n", err)
		return 1
	}
	<-ctx.Done()
	st := s.Stats()
	var parts []string
	for k, v := range st.Requests {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	log.Info("sls-local stopped", "logs", st.Logs, "requests", strings.Join(parts, " "))
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
