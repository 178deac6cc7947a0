package output

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
)

// Reserved keys of the JSON-lines format (DESIGN.md §3).
const (
	// TimeKey holds the record time in decimal seconds, as a JSON string.
	TimeKey = "__time__"
	// TagPrefix is put before each tag name when tags are written.
	TagPrefix = "__tag__:"
)

// AppendJSON appends record r of batch b to dst as one JSON object, without a
// trailing newline, and returns the extended buffer. The object holds every
// content of r in order, then "__time__" (r.Sec as a decimal string), then,
// when tags is true, each tag of b.Source as "__tag__:<name>".
//
// The output is valid JSON for any bytes: '"', '\\' and control characters
// are escaped, invalid UTF-8 is replaced by U+FFFD one byte at a time, and
// U+2028 and U+2029 are escaped, exactly as encoding/json does with HTML
// escaping off. Valid multi-byte UTF-8 is copied as is. Duplicate keys are
// kept in order. r.Nsec is not written (see the package notes).
// AppendJSON does not allocate when dst has room.
func AppendJSON(dst []byte, b *batch.Batch, r *batch.Record, tags bool) []byte {
	dst = appendRecordBody(dst, r)
	if tags && b != nil && b.Source != nil {
		dst = appendTags(dst, b.Source.Tags)
	}
	return append(dst, '}')
}

// appendBatch appends every record of b as one JSON line. The tag part, the
// same for every record of the batch, is encoded once and copied.
func appendBatch(dst []byte, b *batch.Batch, tags bool) []byte {
	var tagStart, tagEnd int
	hasTags := tags && b.Source != nil && len(b.Source.Tags) > 0
	for i := range b.Records {
		dst = appendRecordBody(dst, &b.Records[i])
		if hasTags {
			if i == 0 {
				tagStart = len(dst)
				dst = appendTags(dst, b.Source.Tags)
				tagEnd = len(dst)
			} else {
				dst = append(dst, dst[tagStart:tagEnd]...)
			}
		}
		dst = append(dst, '}', '\n')
	}
	return dst
}

// appendRecordBody appends `{` + contents + `__time__`, without the closing
// brace.
func appendRecordBody(dst []byte, r *batch.Record) []byte {
	dst = append(dst, '{')
	for i := range r.Fields {
		f := &r.Fields[i]
		dst = appendString(dst, stringBytes(f.Key))
		dst = append(dst, ':')
		dst = appendString(dst, f.Value)
		dst = append(dst, ',')
	}
	dst = append(dst, `"`+TimeKey+`":"`...)
	dst = strconv.AppendInt(dst, r.Sec, 10)
	return append(dst, '"')
}

func appendTags(dst []byte, tags []batch.Tag) []byte {
	for i := range tags {
		dst = append(dst, `,"`+TagPrefix...)
		dst = appendStringBody(dst, stringBytes(tags[i].Key))
		dst = append(dst, '"', ':')
		dst = appendString(dst, stringBytes(tags[i].Value))
	}
	return dst
}

// stringBytes returns the bytes of s without copying. The result must not be
// modified.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// appendString appends s as a quoted JSON string.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendStringBody(dst, s)
	return append(dst, '"')
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialMask flags, in the high bit of each byte of x, the bytes that need
// the slow path: < 0x20, '"', '\\' or >= 0x80. Borrows can flag bytes above a
// flagged one, never below it, so the lowest flag is exact.
func specialMask(x uint64) uint64 {
	ctl := (x - 0x20*lsb) &^ x
	q := x ^ ('"' * lsb)
	q = (q - lsb) &^ q
	bs := x ^ ('\\' * lsb)
	bs = (bs - lsb) &^ bs
	return (ctl | q | bs | x) & msb
}

// safeASCII[c] is true for the ASCII bytes copied as is.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendStringBody appends the escaped bytes of s, without quotes.
func appendStringBody(dst, s []byte) []byte {
	start, i := 0, 0
	for i < len(s) {
		// Skip 8 plain bytes at a time.
		for i+8 <= len(s) {
			if m := specialMask(binary.LittleEndian.Uint64(s[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if safeASCII[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	return append(dst, s[start:]...)
}
