// Command testapp is a stand-in application for the deployment examples
// and the pod test: it writes numbered log lines to a file (rotating it by
// rename-and-create) and optionally to standard output, then leaves a
// marker file so that a classic sidecar knows it has finished.
//
//	testapp [--dir /var/log/app] [--lines 10000] [--rate 1000] [--rotate-lines 2000]
//	        [--burst 500] [--stdout] [--done /var/log/app/.done] [--linger]
//
// Each line reads
//
//	2026-01-02T15:04:05.000000Z seq=000000042 pod=<$POD_NAME> some padding
//
// so a test can check that every sequence number arrived. It is built
// FROM scratch (see Containerfile beside it): no shell, no libc.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	dir         string
	file        string
	lines       int
	rate        int
	rotateLines int
	keep        int
	burst       int
	stdout      bool
	stderrEvery int
	done        string
	linger      bool
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("testapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "dir", "/var/log/app", "folder of the log file; empty writes no file")
	fs.StringVar(&o.file, "file", "app.log", "log file name")
	fs.IntVar(&o.lines, "lines", 10000, "lines to write; 0 writes until SIGTERM")
	fs.IntVar(&o.rate, "rate", 1000, "lines per second; 0 writes as fast as possible")
	fs.IntVar(&o.rotateLines, "rotate-lines", 2000, "rename the file to FILE.1 (FILE.1 to FILE.2 …) after this many lines; 0 never rotates")
	fs.IntVar(&o.keep, "keep", 2, "rotated files kept")
	fs.IntVar(&o.burst, "burst", 0, "write the last N lines at once, with no pause")
	fs.BoolVar(&o.stdout, "stdout", false, "write every line to standard output too")
	fs.IntVar(&o.stderrEvery, "stderr-every", 0, "with --stdout, send every Nth line to standard error instead")
	fs.StringVar(&o.done, "done", "", "file to create once every line is written (for a sidecar's exit_when_file)")
	fs.BoolVar(&o.linger, "linger", false, "after the last line, wait for SIGTERM instead of exiting")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n, err := write(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "testapp: %v\n", err)
		return 1
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stdout, "testapp: stopped by signal after %d lines\n", n)
		return 0
	}
	if o.done != "" {
		if err := os.WriteFile(o.done, fmt.Appendf(nil, "%d\n", n), 0o644); err != nil {
			fmt.Fprintf(stderr, "testapp: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "testapp: done %d lines\n", n)
	if o.linger {
		<-ctx.Done()
	}
	return 0
}

// write writes the lines and returns how many it wrote.
func write(ctx context.Context, o options, stdout, stderr io.Writer) (int, error) {
	pod := os.Getenv("POD_NAME")
	var f *os.File
	path := ""
	if o.dir != "" {
		if err := os.MkdirAll(o.dir, 0o755); err != nil {
			return 0, err
		}
		path = filepath.Join(o.dir, o.file)
		var err error
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return 0, err
		}
		defer func() { f.Close() }()
	}
	var interval time.Duration
	if o.rate > 0 {
		interval = time.Second / time.Duration(o.rate)
	}
	start := time.Now()
	var buf []byte
	i := 0
	for ; o.lines == 0 || i < o.lines; i++ {
		if ctx.Err() != nil {
			return i, nil
		}
		paced := o.lines == 0 || i < o.lines-o.burst
		if paced && interval > 0 {
			// Sleep only when 5ms ahead of the schedule: fast rates write in
			// small bursts instead of paying for a timer per line.
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 5*time.Millisecond {
				select {
				case <-ctx.Done():
					return i, nil
				case <-time.After(d):
				}
			}
		}
		buf = fmt.Appendf(buf[:0], "%s seq=%09d pod=%s lorem ipsum dolor sit amet\n",
			time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), i, pod)
		if f != nil {
			if _, err := f.Write(buf); err != nil {
				return i, err
			}
		}
		if o.stdout {
			w := stdout
			if o.stderrEvery > 0 && i%o.stderrEvery == o.stderrEvery-1 {
				w = stderr
			}
			if _, err := w.Write(buf); err != nil {
				return i, err
			}
		}
		if f != nil && o.rotateLines > 0 && (i+1)%o.rotateLines == 0 && i+1 != o.lines {
			var err error
			if f, err = rotate(f, path, o.keep); err != nil {
				return i + 1, err
			}
		}
	}
	return i, nil
}

// rotate renames path to path.1 (shifting older ones up to path.keep) and
// opens a new path, as logrotate's default (create) mode does.
func rotate(f *os.File, path string, keep int) (*os.File, error) {
	if err := f.Close(); err != nil {
		return nil, err
	}
	for k := max(keep, 1); k >= 1; k-- {
		from := path
		if k > 1 {
			from = fmt.Sprintf("%s.%d", path, k-1)
		}
		if err := os.Rename(from, fmt.Sprintf("%s.%d", path, k)); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}
