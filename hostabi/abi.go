package hostabi

// Version is the ABI version this package describes.
const Version = 1

// Export names a module provides (DESIGN.md §5; these names are a contract).
const (
	// ExportMarker is the marker of ABI v1: a function with no parameters and
	// no results that the host never calls. The host refuses a module
	// without a marker it knows.
	ExportMarker = "wasmtail_abi_v1"
	// MarkerPrefix starts every ABI marker; a module exporting
	// MarkerPrefix+"2" asks for a version this host does not know.
	MarkerPrefix = "wasmtail_abi_v"
	// ExportInitialize is the reactor initializer (WASI "_initialize"). The
	// host calls it first when the module has one.
	ExportInitialize = "_initialize"
	// ExportInit is wasmtail_init(cfg_ptr i32, cfg_len i32) -> i32, called
	// once per instance with the processor's Config as JSON in a buffer
	// obtained from ExportBuffer. It returns ResultOK or a non-zero code.
	ExportInit = "wasmtail_init"
	// ExportBuffer is wasmtail_buffer(size i32) -> i32: the guest returns the
	// address of a buffer of at least size bytes, 8-byte aligned, that stays
	// reserved for the host until the next wasmtail_buffer call. 0 means the
	// guest could not allocate it.
	ExportBuffer = "wasmtail_buffer"
	// ExportProcess is wasmtail_process(count i32, nbytes i32) -> i64: the
	// host wrote a batch of count records, nbytes long, at the start of the
	// buffer. The result is out_ptr<<32 | out_len, the guest's output batch
	// (out_len 0 means no records), or a negative result code.
	ExportProcess = "wasmtail_process"
)

// Import names: the only host functions besides WASI.
const (
	// ImportModule is the module name of the host functions.
	ImportModule = "wasmtail"
	// ImportLog is log(level i32, ptr i32, len i32): one line to the agent's
	// log, tagged with the module's name. Rate-limited; a module that calls
	// it more than MaxLogCallsPerCall times in one call is stopped.
	ImportLog = "log"
)

// Result codes of wasmtail_init and (negated) of wasmtail_process.
const (
	// ResultOK is success.
	ResultOK = 0
	// ResultError is a failure the module explains in its log.
	ResultError = 1
	// ResultBadConfig means wasmtail_init rejected its Config.
	ResultBadConfig = 2
	// ResultBadInput means wasmtail_process could not read its batch.
	ResultBadInput = 3
)

// Log levels of the log import.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)

// Sizes of the encoding, in bytes.
const (
	HeaderSize = 8
	RecordSize = 16
	FieldSize  = 16
	// Align is the alignment the guest's buffer and output must have.
	Align = 8
)

// Limits the host enforces.
const (
	// MaxRecords is the most records in one batch.
	MaxRecords = 1 << 16
	// MaxFieldsPerRecord is the most fields one output record may have.
	MaxFieldsPerRecord = 1024
	// MaxKeyLen is the longest field key, in bytes. Keys are never empty.
	MaxKeyLen = 256
	// MaxBatchBytes is the largest encoded input batch.
	MaxBatchBytes = 64 << 20
	// MaxLogLen is the longest log line kept; longer lines are cut.
	MaxLogLen = 4096
	// MaxLogCallsPerCall is how many times a module may call log (or write
	// to stdout/stderr) during one call of an export, plus 2 per record of
	// the batch, before the host stops it as a flood.
	MaxLogCallsPerCall = 1024
)
