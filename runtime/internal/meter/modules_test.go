package meter_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmtail/wasmtail/hostabi"
	"github.com/wasmtail/wasmtail/runtime/internal/meter"
)

// root is the repository's root folder.
const root = "../../.."

// repoModules returns the .wasm files of the repository (not under zz*
// folders, which are scratch), one per content, the smallest first, and
// those larger than max bytes left out.
func repoModules(t testing.TB, max int64) []string {
	t.Helper()
	var files []string
	seen := map[[32]byte]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), "zz") || d.IsDir() && d.Name() == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || filepath.Ext(path) != ".wasm" {
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() > max {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(b), "\x00asm") { // Makefile.wasm
			return nil
		}
		if sum := sha256.Sum256(b); !seen[sum] {
			seen[sum] = true
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	size := func(p string) int64 { info, _ := os.Stat(p); return info.Size() }
	slices.SortFunc(files, func(a, b string) int { return int(size(a) - size(b)) })
	return files
}

// TestRepoModules instruments every module of the repository: Go (wasip1,
// c-shared), C (clang) and hand-written ones. wazero must accept the
// result, which proves it well formed: validation checks every
// instruction's types and every index. Validation is the same for both
// engines; the larger Go modules go to the interpreter, which compiles them
// in a third of the time (gonop.wasm goes to the compiler, here and in
// TestGoGuest). Each must export the same functions, under the same
// indices, as before.
func TestRepoModules(t *testing.T) {
	max := int64(1 << 30)
	if testing.Short() {
		max = 1 << 20
	}
	files := repoModules(t, max)
	if len(files) < 10 {
		t.Fatalf("found %d modules: %v", len(files), files)
	}
	ctx := context.Background()
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		t.Run(rel, func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := meter.Instrument(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg := wazero.NewRuntimeConfig()
			if len(in) > 1<<20 && !strings.HasSuffix(path, "gonop.wasm") {
				cfg = wazero.NewRuntimeConfigInterpreter()
			}
			r := wazero.NewRuntimeWithConfig(ctx, cfg)
			defer r.Close(ctx)
			c, err := r.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("wazero refuses the instrumented module: %v", err)
			}
			t.Logf("%d bytes, instrumented %d (+%.1f%%)", len(in), len(out), 100*float64(len(out)-len(in))/float64(len(in)))
			if len(in) > 1<<20 {
				return // compiling the input too takes long; small ones suffice
			}
			orig, err := r.CompileModule(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := signature(c), signature(orig); got != want {
				t.Errorf("exports and imports changed:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// signature describes the imported and exported functions of c, with their
// indices and types.
func signature(c wazero.CompiledModule) string {
	var s []string
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		s = append(s, fmt.Sprintf("import %d %s.%s %v %v", f.Index(), mod, name, f.ParamTypes(), f.ResultTypes()))
	}
	for name, f := range c.ExportedFunctions() {
		s = append(s, fmt.Sprintf("export %d %s %v %v", f.Index(), name, f.ParamTypes(), f.ResultTypes()))
	}
	slices.Sort(s)
	return strings.Join(s, "\n")
}

// goGuest is an instance of a Go-compiled wasmtail module (a WASI reactor).
type goGuest struct {
	t    testing.TB
	mod  api.Module
	fuel api.MutableGlobal // nil if not metered
	buf  uint32            // the module's buffer
	ctx  context.Context   // of the calls
}

// newRuntime returns a runtime for Go guests, with WASI and the host's
// log, closed when the test ends.
func newRuntime(t testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	r, err := goRuntime(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// goRuntime returns a runtime for Go guests: with WASI and the host's log.
func goRuntime(cfg wazero.RuntimeConfig) (wazero.Runtime, error) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	_, err := r.NewHostModuleBuilder(hostabi.ImportModule).NewFunctionBuilder().
		WithFunc(func(context.Context, int32, int32, int32) {}).Export(hostabi.ImportLog).
		Instantiate(ctx)
	return r, err
}

// newGoGuest instantiates c, and runs _initialize and wasmtail_init with
// config, each with fuel if metered.
func newGoGuest(t testing.TB, r wazero.Runtime, c wazero.CompiledModule, metered bool, config string) (*goGuest, error) {
	ctx := context.Background()
	mod, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	g := &goGuest{t: t, mod: mod, ctx: ctx}
	if metered {
		g.fuel = mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal)
	}
	if _, err := g.call(hostabi.ExportInitialize); err != nil {
		return g, err
	}
	res, err := g.call(hostabi.ExportBuffer, 1<<20)
	if err != nil {
		return g, err
	}
	g.buf = uint32(res[0])
	g.mod.Memory().Write(g.buf, []byte(config))
	if res, err := g.call(hostabi.ExportInit, uint64(g.buf), uint64(len(config))); err != nil || res[0] != 0 {
		return g, fmt.Errorf("wasmtail_init: %v, %v", res, err)
	}
	return g, nil
}

// guestFuel is what each call of a Go guest gets: plenty.
const guestFuel = 1 << 40

func (g *goGuest) call(fn string, args ...uint64) ([]uint64, error) {
	if g.fuel != nil {
		g.fuel.Set(guestFuel)
	}
	return g.mod.ExportedFunction(fn).Call(g.ctx, args...)
}

// used returns the fuel the last call used.
func (g *goGuest) used() int64 { return guestFuel - int64(g.fuel.Get()) }

// encodeBatch writes a batch of records, each with the one field content,
// in the layout of hostabi/ABI.md §3 for a buffer at buf.
func encodeBatch(buf uint32, lines []string) []byte {
	n := len(lines)
	b := make([]byte, 8+16*n+16*n)
	binary.LittleEndian.PutUint32(b, uint32(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	key := uint32(len(b))
	b = append(b, "content"...)
	for i, line := range lines {
		r := b[8+16*i:]
		binary.LittleEndian.PutUint64(r, 1700000000)
		binary.LittleEndian.PutUint32(r[12:], 1)
		f := b[8+16*n+16*i:]
		binary.LittleEndian.PutUint32(f, buf+key)
		binary.LittleEndian.PutUint32(f[4:], 7)
		binary.LittleEndian.PutUint32(f[8:], buf+uint32(len(b)))
		binary.LittleEndian.PutUint32(f[12:], uint32(len(line)))
		b = append(b, line...)
	}
	return b
}

// process runs wasmtail_process on lines and returns the output records,
// one string of key=value fields each.
func (g *goGuest) process(lines []string) ([]string, error) {
	mem := g.mod.Memory()
	in := encodeBatch(g.buf, lines)
	mem.Write(g.buf, in)
	res, err := g.call(hostabi.ExportProcess, uint64(len(lines)), uint64(len(in)))
	if err != nil {
		return nil, err
	}
	ret := int64(res[0])
	if ret < 0 {
		return nil, fmt.Errorf("wasmtail_process returned %d", ret)
	}
	ptr, n := uint32(ret>>32), uint32(ret)
	if n == 0 {
		return nil, nil
	}
	read := func(p, n uint32) []byte {
		b, ok := mem.Read(p, n)
		if !ok {
			g.t.Fatalf("output outside memory: %#x+%d", p, n)
		}
		return b
	}
	u32 := func(p uint32) uint32 { return binary.LittleEndian.Uint32(read(p, 4)) }
	count := u32(ptr)
	var out []string
	field := ptr + 8 + 16*count
	for i := range count {
		var s []string
		for range u32(ptr + 8 + 16*i + 12) {
			k, v := read(u32(field), u32(field+4)), read(u32(field+8), u32(field+12))
			s = append(s, string(k)+"="+string(v))
			field += 16
		}
		out = append(out, strings.Join(s, " "))
	}
	return out, nil
}

var jsonLines = []string{
	`{"a":"1","b":2,"c":[1,2,{"d":null}],"e":"caf\u00e9"}`,
	`{"status":200,"path":"/index.html","ua":"curl/8.0","bytes":1024,"ok":true}`,
	`not json`,
	`{"nested":{"x":{"y":{"z":"deep"}}},"s":"a\"b\\c\nd"}`,
}

// TestGoGuest runs a Go-compiled parser instrumented and not: its output
// must be the same, and its fuel must run out when short.
func TestGoGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a 3 MB module twice")
	}
	ctx := context.Background()
	plainWasm, err := os.ReadFile(root + "/parsers/json/json.wasm")
	if err != nil {
		t.Fatal(err)
	}
	meteredWasm, err := meter.Instrument(plainWasm)
	if err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, wazero.NewRuntimeConfig())
	plainCode, err := r.CompileModule(ctx, plainWasm)
	if err != nil {
		t.Fatal(err)
	}
	meteredCode, err := r.CompileModule(ctx, meteredWasm)
	if err != nil {
		t.Fatal(err)
	}
	// The data segments are merged: the memory an instance starts with is
	// the same.
	if got, was := dataSegments(t, meteredWasm), dataSegments(t, plainWasm); got*10 > was {
		t.Errorf("%d data segments after Instrument, of %d", got, was)
	}
	var mems [2][]byte
	for i, c := range []wazero.CompiledModule{plainCode, meteredCode} {
		mod, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		mems[i], _ = mod.Memory().Read(0, mod.Memory().Size())
	}
	if !bytes.Equal(mems[0], mems[1]) {
		t.Error("an instance of the instrumented module starts with other memory")
	}
	const config = `{"SourceKey":"content"}`
	plain, err := newGoGuest(t, r, plainCode, false, config)
	if err != nil {
		t.Fatal(err)
	}
	metered, err := newGoGuest(t, r, meteredCode, true, config)
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.process(jsonLines)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 3 || !strings.Contains(want[1], "status=200") { // not json is dropped
		t.Fatalf("plain output: %q", want)
	}
	for i := range 3 { // the same instance, call after call
		got, err := metered.process(jsonLines)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("call %d: instrumented output\n%q\nwant\n%q", i, got, want)
		}
	}
	used := metered.used()
	t.Logf("wasmtail_process of %d lines used %d fuel", len(jsonLines), used)

	// Short of fuel, the Go runtime's start-up traps, as does a batch.
	g, err := newGoGuest(t, r, meteredCode, true, config)
	if err != nil {
		t.Fatal(err)
	}
	g.fuel.Set(uint64(used - 1))
	in := encodeBatch(g.buf, jsonLines)
	g.mod.Memory().Write(g.buf, in)
	_, err = g.mod.ExportedFunction(hostabi.ExportProcess).Call(ctx, uint64(len(jsonLines)), uint64(len(in)))
	if left := int64(g.fuel.Get()); !outOfFuel(err, left) {
		t.Errorf("wasmtail_process with %d fuel: %v, fuel left %d; want out of fuel", used-1, err, left)
	}
	mod, err := r.InstantiateModule(ctx, meteredCode, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal).Set(10000)
	_, err = mod.ExportedFunction(hostabi.ExportInitialize).Call(ctx)
	if left := int64(mod.ExportedGlobal(meter.FuelExport).Get()); !outOfFuel(err, left) {
		t.Errorf("_initialize with 10000 fuel: %v, fuel left %d; want out of fuel", err, left)
	}
}

// FuzzInstrument: Instrument never panics, and a module that wazero accepts
// instruments into one that it accepts too, and one it refuses into one it
// refuses.
func FuzzInstrument(f *testing.F) {
	for _, path := range repoModules(f, 1<<20) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(funcModule(nil, nil, nil, []byte{0x02, 0x40, 0x0c, 0x00, 0x0b}))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := meter.Instrument(in)
		if !plausible(in) {
			return
		}
		if err != nil {
			if validate(in) == nil && !beyondWazero(err) {
				t.Fatalf("wazero accepts the module, Instrument says %v", err)
			}
			return
		}
		checkValid(t, in, out)
	})
}

// beyondWazero reports whether err is one of the refusals of Instrument
// that wazero v1.12 does not make: a count over a fixed cap (params,
// results, locals, table and element entries; bounds.go), or a name section
// whose decoding runs past its end, which wazero accepts only when the
// section ends the module. (A count over the bytes that could hold it
// wazero refuses as well, after allocating it.)
func beyondWazero(err error) bool {
	s := err.Error()
	return strings.Contains(s, "module declares") && !strings.Contains(s, "bytes left in the") ||
		strings.Contains(s, "name section: its subsections run past its end")
}

// plausible reports whether wasm holds no LEB128 of 3 bytes or more with a
// value of 2^20 or more. wazero v1.12 allocates the items of a vector
// before reading them, so that a module declaring 2^31 of them runs it out
// of memory (Instrument does not): it is no oracle for those.
func plausible(wasm []byte) bool {
	start := 0 // of the current run of bytes with the high bit set
	for i, c := range wasm {
		if c >= 0x80 {
			continue
		}
		if i-start >= 2 {
			var v uint64
			for k := i; k >= start && k > i-10; k-- {
				v = v<<7 | uint64(wasm[k]&0x7f)
			}
			if v >= 1<<20 {
				return false
			}
		}
		start = i + 1
	}
	return true
}
