// Package output holds the local flushers of a pipeline and the JSON-lines
// record format they share (DESIGN.md §3):
//
//   - flusher_stdout writes to standard output (Settings.Stdout) or appends to
//     FileName;
//   - flusher_file appends to FilePath and rotates it by size;
//   - flusher_blackhole accepts and discards, for benchmarks.
//
// Each record is written as one JSON object on one line by [AppendJSON]:
//
//	{"content":"GET / 200","__time__":"1657354763","__tag__:__path__":"/var/log/a.log"}
//
// # Delivery
//
// Export returns nil only when the batch has been handed on: for the file
// flushers, its bytes were written to the file with write(2). The caller then
// acknowledges the batch and the input's checkpoint may move past it
// (DESIGN.md §4). A batch is encoded into one buffer and written with a
// single Write call under the flusher's mutex, so lines of concurrent batches
// never interleave and a SIGKILL leaves at most one partial line, at the end
// of the file. Start cuts such a partial tail off before appending: it
// belongs to a batch that was never acknowledged and will be sent again, so
// the file holds whole lines only and no line is merged with another.
//
// # Notes
//
//   - There is no fsync per batch. Bytes written with write(2) live in the
//     kernel's page cache and survive the death of the agent (SIGKILL, OOM
//     kill, panic); only a crash of the machine loses them, and the log files
//     being tailed sit in the same page cache. An fsync per batch would cost
//     milliseconds per batch for no gain against the failures the agent
//     guards against. Shutdown does fsync.
//   - Nanoseconds are not written. LoongCollector's flusher_stdout prints only
//     "__time__" (and its JSON serializer leaves nanoseconds as a TODO), so
//     the output stays the same as LoongCollector's.
//   - Duplicate content keys are written as they come, in order; a processor
//     may produce them. Most JSON decoders keep the last one.
package output
