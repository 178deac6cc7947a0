package slslocal

import (
	"errors"
	"net"
	"testing"
)

// Start runs a server on a free loopback port for the test and closes it
// when the test ends. Without opts.Data it stores into a folder of
// t.TempDir(); without keys it uses TestAccessKeyID and TestAccessKeySecret.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Data == "" {
		opts.Data = t.TempDir()
	}
	if opts.AccessKeyID == "" {
		opts.AccessKeyID, opts.AccessKeySecret = TestAccessKeyID, TestAccessKeySecret
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.ln = ln // Addr works at once
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("slslocal: close: %v", err)
		}
		_ = ln.Close()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("slslocal: serve: %v", err)
		}
	})
	return s
}

// Keys that Start uses when the options give none.
const (
	TestAccessKeyID     = "LTAI-wasmtail-test"
	TestAccessKeySecret = "wasmtail-test-secret"
)
