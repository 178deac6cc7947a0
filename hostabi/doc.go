// Package hostabi is the contract between wasmtail and its Wasm modules,
// version 1: the names a module exports and imports, the batch encoding
// that crosses the boundary in both directions, result codes and limits.
//
// It uses the standard library only and never imports wazero, so the host
// (package runtime) and the Go guest SDK (package sdk, GOOS=wasip1) share
// one definition. ABI.md beside this file documents the same contract for
// authors in any language, with memory diagrams.
//
// # Batch encoding
//
// One layout is used for the batch the host writes into the guest and for
// the batch the guest hands back. All integers are little-endian; every
// pointer is an absolute address in the guest's linear memory, so a guest
// can hand back a field of the input unchanged and the host finds the
// bytes it already has instead of copying them.
//
//	ptr ─▶ +0   ┌────────────────────┐
//	            │ count   u32        │ records in the batch
//	            │ nfields u32        │ fields in the batch (all records)
//	       +8   ├────────────────────┤
//	            │ record 0  (16 B)   │ sec i64 │ nsec i32 │ nfields u32
//	            │ …                  │
//	            ├────────────────────┤ +8 + 16·count
//	            │ field 0   (16 B)   │ key_ptr u32 │ key_len u32 │ val_ptr u32 │ val_len u32
//	            │ …                  │ record 0's fields first, then record 1's …
//	            ├────────────────────┤ +8 + 16·count + 16·nfields
//	            │ bytes (input only) │ keys, then values, which the fields point at
//	            └────────────────────┘
package hostabi
