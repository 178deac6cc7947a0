// Command wasmtail is the log collection agent.
//
//	wasmtail run [--config agent.yaml]          run the agent
//	wasmtail process --pipeline FILE [INPUT…]   run a pipeline's processors over lines, print records
//	wasmtail validate PATH…                     check pipeline configs (files or folders)
//	wasmtail sls-local [--listen ADDR] …        a local SLS endpoint for tests and the quick start
//	wasmtail version
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wasmtail/wasmtail/agent/internal/agent"
	"github.com/wasmtail/wasmtail/agent/internal/config"
	"github.com/wasmtail/wasmtail/agent/internal/metrics"
	"github.com/wasmtail/wasmtail/agent/internal/native"
	"github.com/wasmtail/wasmtail/agent/internal/output"
	"github.com/wasmtail/wasmtail/agent/internal/pipeline"
	"github.com/wasmtail/wasmtail/agent/internal/slslocal"
	"github.com/wasmtail/wasmtail/agent/internal/wasmproc"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `wasmtail: a log collection agent with WebAssembly parsers.

Usage:
  wasmtail run [--config FILE]               run the agent (keys also from WASMTAIL_* variables)
  wasmtail process --pipeline FILE [INPUT…]  run a pipeline's processors over lines from INPUT
                                             files or stdin and print the records as JSON lines
  wasmtail validate PATH…                    check pipeline config files or folders; exit 1 on errors
  wasmtail sls-local [--listen ADDR] [--data DIR] [--fault SPEC]…
                                             a local SLS endpoint (PutLogs) for tests and the
                                             quick start; see wasmtail sls-local --help
  wasmtail version                           print the version
`

// moduleReloadInterval is how often the agent checks the Wasm module files
// in use for a new version (hot reload, DESIGN.md §5).
const moduleReloadInterval = 50 * time.Millisecond

// processors is the registry of every processor type this binary knows.
// Modules are read from modulesDir or, named by path, from under roots
// (nil: wasmproc.DefaultModuleRoots). With reload > 0 the Wasm modules are
// hot-reloaded; close the returned Modules when done.
func processors(modulesDir string, roots []string, cacheDir string, log *slog.Logger, met *metrics.Metrics, reload time.Duration) (*pipeline.Registry, *wasmproc.Modules) {
	reg := pipeline.NewRegistry()
	mods := wasmproc.Register(reg, wasmproc.Options{ModulesDir: modulesDir, ModuleRoots: roots, CacheDir: cacheDir, Log: log,
		Metrics: met, ReloadInterval: reload})
	native.Register(reg)
	return reg, mods
}

// toolProcessors is the registry of the one-shot commands (validate,
// process), which have no agent config: modules come from WASMTAIL_MODULES
// or, named by path, from under WASMTAIL_MODULE_ROOTS, as for the agent, so
// that validate refuses what run would; module logs go to stderr. With
// workdir (process, where a user tries a module before shipping it) paths
// under the working folder are read too.
func toolProcessors(stderr io.Writer, workdir bool) *pipeline.Registry {
	var roots []string // nil: the default
	if v, ok := os.LookupEnv(config.EnvPrefix + "MODULE_ROOTS"); ok {
		roots = config.SplitList(v)
	}
	if workdir {
		if roots == nil {
			roots = wasmproc.DefaultModuleRoots()
		}
		if wd, err := os.Getwd(); err == nil {
			roots = append(roots, wd)
		}
	}
	reg, _ := processors(os.Getenv(config.EnvPrefix+"MODULES"), roots, "", slog.New(slog.NewTextHandler(stderr, nil)), nil, 0)
	return reg
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "process":
		return cmdProcess(args[1:], stdin, stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "sls-local":
		return slslocal.Main(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "wasmtail %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "wasmtail: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// newLogger returns the agent's logger and the level it filters at, which
// can be changed while the agent runs.
func newLogger(w io.Writer, level string) (*slog.Logger, *slog.LevelVar) {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	lv := new(slog.LevelVar)
	lv.Set(l)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})), lv
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "agent config `file` (YAML); every key can also be set with WASMTAIL_<KEY>")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.LoadAgent(*cfgPath, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "wasmtail: %v\n", err)
		return 1
	}
	log, level := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go agent.WatchSettings(ctx, *cfgPath, os.Environ(), cfg, level, log, cfg.ScanInterval)

	met := metrics.New()
	procs, modules := processors(cfg.Modules, cfg.ModuleRoots, filepath.Join(cfg.Data, "wasm-cache"), log, met, moduleReloadInterval)
	defer modules.Close()
	a := agent.New(cfg, log, stdout, procs, met)
	a.ReportModules(modules.Refused)
	if err := a.Start(ctx); err != nil {
		log.Error("agent not started", "err", err)
		return 1
	}
	log.Info("wasmtail running", "version", version, "pipelines", cfg.Pipelines, "data", cfg.Data, "http", a.HTTPAddr())
	waitStop(ctx, cfg.ExitWhenFile, log)
	stop()
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// exitFilePoll is how often exit_when_file is looked for. exitFileSettle is
// how long the agent keeps reading once the file appeared: longer than the
// longest pause of a reader on a quiet file (800ms), so that the lines the
// application wrote before it created the file are read before the
// shutdown stops the readers.
const (
	exitFilePoll   = 500 * time.Millisecond
	exitFileSettle = 2 * time.Second
)

// waitStop returns when ctx is done (SIGTERM, SIGINT) or, when exitFile is
// set, exitFileSettle after that file appeared.
func waitStop(ctx context.Context, exitFile string, log *slog.Logger) {
	if exitFile == "" {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(exitFilePoll)
	defer t.Stop()
	for {
		if _, err := os.Stat(exitFile); err == nil {
			log.Info("exit file appeared: the application has finished", "file", exitFile, "settle", exitFileSettle)
			select {
			case <-ctx.Done():
			case <-time.After(exitFileSettle):
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "wasmtail validate: give one or more pipeline config files or folders")
		return 2
	}
	reg := toolProcessors(stderr, false)
	bad := 0
	// check loads a pipeline's processors too (parameters, Wasm modules),
	// as starting it would, then releases them.
	check := func(pl *config.Pipeline) {
		procs, err := pipeline.BuildProcessors(pl, reg)
		pipeline.ShutdownProcessors(context.Background(), procs)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad++
			return
		}
		fmt.Fprintf(stdout, "ok %s\n", pl.File)
	}
	for _, p := range args {
		fi, err := os.Stat(p)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			bad++
			continue
		}
		if fi.IsDir() {
			pls, errs := config.LoadPipelineDir(p, reg.Known)
			for _, err := range errs {
				fmt.Fprintln(stderr, err)
				bad++
			}
			for _, pl := range pls {
				check(pl)
			}
			continue
		}
		pl, err := config.LoadPipeline(p, reg.Known)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad++
			continue
		}
		check(pl)
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// cmdProcess frames lines from the inputs as the pipeline's input would
// (Multiline included), runs the processors and prints one JSON object per
// record (DESIGN.md §3).
func cmdProcess(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("process", flag.ContinueOnError)
	fs.SetOutput(stderr)
	plPath := fs.String("pipeline", "", "pipeline config `file`")
	tags := fs.Bool("tags", false, "print tags as __tag__:<name>")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *plPath == "" {
		fmt.Fprintln(stderr, "wasmtail process: --pipeline FILE is required")
		return 2
	}
	reg := toolProcessors(stderr, true)
	pl, err := config.LoadPipeline(*plPath, reg.Known)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	procs, err := pipeline.BuildProcessors(pl, reg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer pipeline.ShutdownProcessors(context.Background(), procs)
	inputs := fs.Args()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	w := bufio.NewWriterSize(stdout, 256<<10)
	defer w.Flush()
	for _, in := range inputs {
		var r io.Reader = stdin
		path := "stdin"
		if in != "-" {
			f, err := os.Open(in)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
			defer f.Close()
			r, path = f, in
		}
		if err := processStream(r, path, pl, procs, *tags, w); err != nil {
			fmt.Fprintf(stderr, "wasmtail process: %s: %v\n", path, err)
			return 1
		}
	}
	return 0
}

func processStream(r io.Reader, path string, pl *config.Pipeline, procs []pipeline.Processor, tags bool, w *bufio.Writer) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	b, err := pipeline.Frame(pl, data, abs)
	if err != nil {
		return err
	}
	for _, p := range procs {
		if err := p.Process(context.Background(), b); err != nil {
			return err
		}
	}
	var buf []byte
	for i := range b.Records {
		buf = output.AppendJSON(buf[:0], b, &b.Records[i], tags)
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
