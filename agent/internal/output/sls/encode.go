package sls

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
)

// The protobuf LogGroup, as sls.proto of the SDK defines it:
//
//	LogGroup { repeated Log Logs = 1; optional string Topic = 3;
//	           optional string Source = 4; repeated LogTag LogTags = 6; }
//	Log      { required uint32 Time = 1; repeated LogContent Contents = 2;
//	           optional fixed32 TimeNs = 4; }
//	LogContent, LogTag { required string Key = 1; required string Value = 2; }
//
// Fields are written in field-number order, as the SDK's gogo-protobuf
// marshaller does, so the bytes are the same as proto.Marshal's.
const (
	tagGroupLogs   = 1<<3 | 2
	tagGroupTopic  = 3<<3 | 2
	tagGroupSource = 4<<3 | 2
	tagGroupTags   = 6<<3 | 2
	tagLogTime     = 1<<3 | 0
	tagLogContents = 2<<3 | 2
	tagLogTimeNs   = 4<<3 | 5
	tagPairKey     = 1<<3 | 2
	tagPairValue   = 2<<3 | 2
)

func uvarintLen(x uint64) int {
	switch {
	case x < 1<<7:
		return 1
	case x < 1<<14:
		return 2
	}
	return (bits.Len64(x) + 6) / 7
}

// fieldLen is the size of a length-delimited field with a one-byte tag.
func fieldLen(n int) int { return 1 + uvarintLen(uint64(n)) + n }

func pairLen(k string, v []byte) int { return fieldLen(len(k)) + fieldLen(len(v)) }

// logBodyLen is the size of a Log message's body.
func logBodyLen(r *batch.Record, nanos bool) int {
	n := 1 + uvarintLen(uint64(uint32(r.Sec)))
	for i := range r.Fields {
		kl, vl := len(r.Fields[i].Key), len(r.Fields[i].Value)
		if pl := kl + vl + 4; pl < 0x80 { // one-byte lengths
			n += 2 + pl
		} else {
			n += fieldLen(pairLen(r.Fields[i].Key, r.Fields[i].Value))
		}
	}
	if nanos {
		n += 5
	}
	return n
}

// logLen is the size of one Logs entry of a LogGroup.
func logLen(r *batch.Record, nanos bool) int { return fieldLen(logBodyLen(r, nanos)) }

// putUvarint writes x at b[i:] and returns the index after it.
func putUvarint(b []byte, i int, x uint64) int {
	for x >= 0x80 {
		b[i] = byte(x) | 0x80
		x >>= 7
		i++
	}
	b[i] = byte(x)
	return i + 1
}

// putString writes a length-delimited field at b[i:] and returns the index
// after it.
func putString(b []byte, i int, tag byte, s string) int {
	b[i] = tag
	i = putUvarint(b, i+1, uint64(len(s)))
	return i + copy(b[i:], s)
}

// putLog writes the Logs entry of r, whose logBodyLen is bodyLen, at b[i:]
// (which has room for it) and returns the index after it.
func putLog(b []byte, i int, r *batch.Record, bodyLen int, nanos bool) int {
	b[i] = tagGroupLogs
	i = putUvarint(b, i+1, uint64(bodyLen))
	b[i] = tagLogTime
	i = putUvarint(b, i+1, uint64(uint32(r.Sec)))
	for k := range r.Fields {
		f := &r.Fields[k]
		kl, vl := len(f.Key), len(f.Value)
		b[i] = tagLogContents
		if pl := kl + vl + 4; pl < 0x80 { // the usual short pair: one-byte lengths
			b[i+1] = byte(pl)
			b[i+2] = tagPairKey
			b[i+3] = byte(kl)
			i += 4
		} else {
			i = putUvarint(b, i+1, uint64(pairLen(f.Key, f.Value)))
			b[i] = tagPairKey
			i = putUvarint(b, i+1, uint64(kl))
		}
		i += copy(b[i:], f.Key)
		b[i] = tagPairValue
		i = putUvarint(b, i+1, uint64(vl))
		i += copy(b[i:], f.Value)
	}
	if nanos {
		b[i] = tagLogTimeNs
		binary.LittleEndian.PutUint32(b[i+1:], uint32(r.Nsec))
		i += 5
	}
	return i
}

// groupMeta is what a LogGroup carries besides its logs.
type groupMeta struct {
	topic  string
	source string
	tags   []batch.Tag // __pack_id__ included
}

func (m *groupMeta) len() int {
	n := 0
	if m.topic != "" {
		n += fieldLen(len(m.topic))
	}
	if m.source != "" {
		n += fieldLen(len(m.source))
	}
	for _, t := range m.tags {
		n += fieldLen(fieldLen(len(t.Key)) + fieldLen(len(t.Value)))
	}
	return n
}

// appendLogGroup appends the LogGroup of records and m to dst; bodyLens
// holds each record's logBodyLen (the sender has them from batching). It
// grows dst once, to the group's exact size, and writes the logs in place.
func appendLogGroup(dst []byte, records []batch.Record, bodyLens []int, m *groupMeta, nanos bool) []byte {
	size := m.len()
	for _, n := range bodyLens {
		size += fieldLen(n)
	}
	dst = slices.Grow(dst, size)
	start := len(dst)
	b := dst[:start+size]
	i := start
	for k := range records {
		i = putLog(b, i, &records[k], bodyLens[k], nanos)
	}
	if m.topic != "" {
		i = putString(b, i, tagGroupTopic, m.topic)
	}
	if m.source != "" {
		i = putString(b, i, tagGroupSource, m.source)
	}
	for _, t := range m.tags {
		b[i] = tagGroupTags
		i = putUvarint(b, i+1, uint64(fieldLen(len(t.Key))+fieldLen(len(t.Value))))
		i = putString(b, i, tagPairKey, t.Key)
		i = putString(b, i, tagPairValue, t.Value)
	}
	if i != len(b) {
		panic("sls: LogGroup size computed wrong") // a bug here, not bad input
	}
	return b
}
