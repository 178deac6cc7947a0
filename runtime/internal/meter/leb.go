package meter

import "errors"

var (
	errTruncated = errors.New("unexpected end")
	errLEB       = errors.New("integer too large")
)

// u32 decodes the unsigned LEB128 at b[p:end] and returns it with the
// offset that follows it.
func u32(b []byte, p, end int) (uint32, int, error) {
	if p < end && b[p] < 0x80 {
		return uint32(b[p]), p + 1, nil
	}
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		if p >= end {
			return 0, p, errTruncated
		}
		c := b[p]
		p++
		if shift == 28 && c > 0x0f {
			return 0, p, errLEB // more than 32 bits
		}
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v, p, nil
		}
	}
	return 0, p, errLEB
}

// skipLEB skips a LEB128 of at most max bytes at b[p:end]. The length of a
// LEB128 is its bytes up to the first without the high bit, whatever its
// type, so this is how the engine reads it too; the engine also checks its
// value.
func skipLEB(b []byte, p, end, max int) (int, error) {
	for i := 0; i < max; i++ {
		if p >= end {
			return p, errTruncated
		}
		c := b[p]
		p++
		if c < 0x80 {
			return p, nil
		}
	}
	return p, errLEB
}

// appendU32 appends v as an unsigned LEB128 of minimal length.
func appendU32(out []byte, v uint32) []byte {
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}

// lenU32 is the length of v as an unsigned LEB128 of minimal length.
func lenU32(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// s32 decodes the signed LEB128 of at most 5 bytes at b[p:end] and returns
// it with the offset that follows it.
func s32(b []byte, p, end int) (int32, int, error) {
	var v int64
	for shift := 0; shift < 35; shift += 7 {
		if p >= end {
			return 0, p, errTruncated
		}
		c := b[p]
		p++
		v |= int64(c&0x7f) << shift
		if c < 0x80 {
			if c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			if v < -1<<31 || v >= 1<<31 {
				return 0, p, errLEB
			}
			return int32(v), p, nil
		}
	}
	return 0, p, errLEB
}

// appendS32 appends v as a signed LEB128 of minimal length.
func appendS32(out []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}
