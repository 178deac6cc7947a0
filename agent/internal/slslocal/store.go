package slslocal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	slssdk "github.com/aliyun/aliyun-log-go-sdk"

	"github.com/wasmtail/wasmtail/agent/internal/jsonstr"
)

// store appends lg's logs to project/logstore's file (and to Print).
func (s *Server) store(project, logstore string, lg *slssdk.LogGroup) error {
	if (s.opts.Data == "" || s.opts.Discard) && s.opts.Print == nil {
		return nil
	}
	if !validName(project) || !validName(logstore) {
		return fmt.Errorf("project %q or logstore %q is not a valid name", project, logstore)
	}
	var buf []byte
	for _, l := range lg.Logs {
		buf = appendLog(buf, lg, l)
	}
	if s.opts.Print != nil {
		s.mu.Lock()
		_, err := s.opts.Print.Write(buf)
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if s.opts.Data == "" || s.opts.Discard {
		return nil
	}
	st, err := s.storeFor(project, logstore)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.f == nil {
		return errors.New("server closed")
	}
	_, err = st.w.Write(buf)
	return err
}

func (s *Server) storeFor(project, logstore string) (*store, error) {
	key := project + "/" + logstore
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stores[key]; st != nil {
		return st, nil
	}
	path := s.LogsPath(project, logstore)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	st := &store{f: f, w: bufio.NewWriterSize(f, 1<<20), path: path}
	s.stores[key] = st
	return st, nil
}

// validName accepts SLS project and logstore names (letters, digits, "-"
// and "_"), so that they are safe as path elements.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// appendLog appends one log as a JSON line: its contents, then __time__,
// __time_ns__ (when sent), __topic__, __source__ and the tags.
func appendLog(dst []byte, lg *slssdk.LogGroup, l *slssdk.Log) []byte {
	dst = append(dst, '{')
	for _, c := range l.Contents {
		dst = jsonstr.Append(dst, c.GetKey())
		dst = append(dst, ':')
		dst = jsonstr.Append(dst, c.GetValue())
		dst = append(dst, ',')
	}
	dst = append(dst, `"__time__":"`...)
	dst = strconv.AppendUint(dst, uint64(l.GetTime()), 10)
	dst = append(dst, '"', ',')
	if l.TimeNs != nil {
		dst = append(dst, `"__time_ns__":"`...)
		dst = strconv.AppendUint(dst, uint64(*l.TimeNs), 10)
		dst = append(dst, '"', ',')
	}
	dst = append(dst, `"__topic__":`...)
	dst = jsonstr.Append(dst, lg.GetTopic())
	dst = append(dst, `,"__source__":`...)
	dst = jsonstr.Append(dst, lg.GetSource())
	for _, t := range lg.LogTags {
		dst = append(dst, ',')
		dst = jsonstr.Append(dst, "__tag__:"+t.GetKey())
		dst = append(dst, ':')
		dst = jsonstr.Append(dst, t.GetValue())
	}
	return append(dst, '}', '\n')
}

// admin serves /_local/.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	writeJSON := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch p := strings.TrimPrefix(r.URL.Path, "/_local/"); {
	case p == "faults" && r.Method == http.MethodPost:
		var f Fault
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			http.Error(w, "fault: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.InjectFault(f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(s.Faults())
	case p == "faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		writeJSON([]Fault{})
	case p == "faults" && r.Method == http.MethodGet:
		writeJSON(s.Faults())
	case p == "stats" && r.Method == http.MethodGet:
		writeJSON(s.Stats())
	case strings.HasPrefix(p, "logs/") && r.Method == http.MethodGet:
		project, logstore, ok := strings.Cut(strings.TrimPrefix(p, "logs/"), "/")
		if !ok || !validName(project) || !validName(logstore) || s.opts.Data == "" {
			http.Error(w, "want GET /_local/logs/<project>/<logstore> (and a --data folder)", http.StatusNotFound)
			return
		}
		if err := s.Flush(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		http.ServeFile(w, r, s.LogsPath(project, logstore))
	default:
		http.Error(w, "unknown admin path: see GET /_local/stats, /_local/faults, /_local/logs/<project>/<logstore>", http.StatusNotFound)
	}
}
