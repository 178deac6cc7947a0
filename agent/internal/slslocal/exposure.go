package slslocal

import (
	"fmt"
	"net"
	"net/http"
)

// The keys `wasmtail sls-local` accepts when it is given none. They are
// written in this repository, so anyone knows them: with them the server
// listens only on loopback.
const (
	DefaultAccessKeyID     = "local"
	DefaultAccessKeySecret = "local-secret"
)

// wellKnownSecret reports whether secret is one of the secrets anyone can
// read in this repository.
func wellKnownSecret(secret string) bool {
	return secret == DefaultAccessKeySecret || secret == TestAccessKeySecret
}

// CheckListen refuses a listen address that is not loopback ("" or
// 0.0.0.0 is every interface; a name counts as loopback when every address
// it resolves to is) while secret is a well-known one: anyone who could
// reach the server could then write into it. The caller says where the
// keys come from in hint.
func CheckListen(addr, secret, hint string) error {
	if !wellKnownSecret(secret) || loopbackAddr(addr) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s, which is not a loopback address, with the well-known default keys: anyone who can reach it could write logs into it. Listen on 127.0.0.1 (or [::1]), or give keys of your own%s", addr, hint)
}

// loopbackAddr reports whether the host of addr (host:port) is loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// fromLoopback reports whether r came from this machine's loopback.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminRefused answers an admin request that did not come from loopback.
func adminRefused(w http.ResponseWriter) {
	http.Error(w, "the /_local/ admin API (faults, stats, stored logs) answers only connections from loopback: call it on this machine, at 127.0.0.1", http.StatusForbidden)
}
