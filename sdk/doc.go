// Package sdk is what a wasmtail module author imports to write a
// processor in Go. A processor is a plain Go type:
//
//	type Parser struct{ sep byte }
//
//	func (p *Parser) Init(config []byte) error { … }      // the pipeline's Config, as JSON
//	func (p *Parser) Process(b *sdk.Batch) error { … }   // rewrite b.Records in place
//
// Compiled to Wasm, a main package registers it and the SDK does the rest
// (the hostabi exports, decoding the batch, encoding the output):
//
//	//go:build wasip1
//	package main
//
//	func init() { sdk.Register(&Parser{}) }
//	func main() {}
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o parser.wasm .
//
// The same type runs natively too: a host builds a Batch, calls Process
// and reads Batch.Records back, which is how wasmtail's built-in parsers
// are written once and run both ways. Nothing of the ABI shows in a
// processor.
//
// A parser that splits one field (the raw line) into fields whose keys it
// knows in advance is simpler, and in Wasm faster, as a LineParser:
//
//	func (p Parser) Keys() []string                        { … }
//	func (p Parser) Parse(line []byte, vals [][]byte) int  { … } // fill vals[:n], return n
//
//	func init() { sdk.Register(&sdk.Lines{Parser: Parser{}}) }
//
// # Rules for Process
//
//   - Input values (and keys) alias the batch's input: read them, slice
//     them, return slices of them (that costs nothing), but copy what you
//     keep after Process returns.
//   - New bytes come from Batch.Alloc or Batch.Append, new field slices from
//     Batch.Fields; both are recycled after the batch, so keep nothing
//     from them either.
//   - Return at most as many records as you were given: drop records by
//     leaving them out (b.Records = kept), split none.
package sdk
