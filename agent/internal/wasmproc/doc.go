// Package wasmproc is processor_wasm: a pipeline processor that runs a
// sandboxed Wasm module (see hostabi/ABI.md) over each batch.
//
// The records of a batch are encoded once, handed to one of the module's
// instances, and replaced by the records the module returns. Values the
// module returns as slices of its input point back into the batch's own
// buffer; new bytes are copied once into the batch's Extra.
//
// A module failure never loses a record: when a batch fails even after its
// retry (or the module was refused or is quarantined), its records go on
// unchanged with a field __wasm_error__ saying why; the failure is logged
// with the module's name and counted (wasmtail_wasm_traps_total,
// wasmtail_processor_errors_total).
//
// With Options.ReloadInterval set, module files are hot-reloaded (reload.go;
// test vectors in tests.go; hostabi/ABI.md §8). Module files are read only
// from regular files, size-capped, from the modules folder or the allowed
// roots (modfile.go).
package wasmproc
