package sls

import (
	"encoding/binary"
	"math/bits"

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
		n += fieldLen(pairLen(r.Fields[i].Key, r.Fields[i].Value))
	}
	if nanos {
		n += 5
	}
	return n
}

// logLen is the size of one Logs entry of a LogGroup.
func logLen(r *batch.Record, nanos bool) int { return fieldLen(logBodyLen(r, nanos)) }

func appendString(dst []byte, tag byte, s string) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst []byte, tag byte, b []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendLog(dst []byte, r *batch.Record, nanos bool) []byte {
	return appendLogSized(dst, r, logBodyLen(r, nanos), nanos)
}

// appendLogSized is appendLog for a record whose logBodyLen is bodyLen.
func appendLogSized(dst []byte, r *batch.Record, bodyLen int, nanos bool) []byte {
	dst = append(dst, tagGroupLogs)
	dst = binary.AppendUvarint(dst, uint64(bodyLen))
	dst = append(dst, tagLogTime)
	dst = binary.AppendUvarint(dst, uint64(uint32(r.Sec)))
	for i := range r.Fields {
		f := &r.Fields[i]
		dst = append(dst, tagLogContents)
		dst = binary.AppendUvarint(dst, uint64(pairLen(f.Key, f.Value)))
		dst = appendString(dst, tagPairKey, f.Key)
		dst = appendBytes(dst, tagPairValue, f.Value)
	}
	if nanos {
		dst = append(dst, tagLogTimeNs)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(r.Nsec))
	}
	return dst
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

// appendLogGroup appends the LogGroup of records and m to dst. bodyLens,
// when not nil, holds each record's logBodyLen.
func appendLogGroup(dst []byte, records []batch.Record, bodyLens []int, m *groupMeta, nanos bool) []byte {
	for i := range records {
		if bodyLens != nil {
			dst = appendLogSized(dst, &records[i], bodyLens[i], nanos)
		} else {
			dst = appendLog(dst, &records[i], nanos)
		}
	}
	if m.topic != "" {
		dst = appendString(dst, tagGroupTopic, m.topic)
	}
	if m.source != "" {
		dst = appendString(dst, tagGroupSource, m.source)
	}
	for _, t := range m.tags {
		dst = append(dst, tagGroupTags)
		dst = binary.AppendUvarint(dst, uint64(fieldLen(len(t.Key))+fieldLen(len(t.Value))))
		dst = appendString(dst, tagPairKey, t.Key)
		dst = appendString(dst, tagPairValue, t.Value)
	}
	return dst
}
