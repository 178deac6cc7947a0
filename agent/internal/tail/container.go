package tail

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wasmtail/wasmtail/agent/internal/batch"
)

// Container configures a Manager to read the container logs the kubelet
// writes under /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log:
// each line is either CRI (`<RFC3339Nano> <stdout|stderr> <P|F> <message>`,
// a long message split into P parts ended by an F part) or docker's
// json-file format (`{"log":"…\n","stream":"…","time":"…"}`, a long message
// split into parts whose log does not end in "\n"). The format is told per
// file from its first byte. A record is one whole message: its parts joined,
// with the contents `content`, `_time_` (the runtime's timestamp) and
// `_source_` (the stream), and the pod tags taken from the path.
type Container struct {
	IgnoreStdout, IgnoreStderr bool
	// Namespace, Pod and Container select containers; nil matches all.
	Namespace, Pod, Container *regexp.Regexp
	// Tag names for the namespace, pod name, pod UID and container name;
	// an empty name drops the tag.
	NamespaceTag, PodTag, PodUIDTag, ContainerTag string
}

// podOf parses a container log path into its pod identity. The file may
// have been renamed by the kubelet's rotation (0.log → 0.log.20261126-…);
// the identity is in the directories.
func podOf(path string) (ns, pod, uid, container string, ok bool) {
	dir := filepath.Dir(path)
	container = filepath.Base(dir)
	parts := strings.SplitN(filepath.Base(filepath.Dir(dir)), "_", 3)
	if len(parts) != 3 || container == "" {
		return "", "", "", "", false
	}
	return parts[0], parts[1], parts[2], container, true
}

// accept reports whether the file at path is a container log the filters
// select.
func (c *Container) accept(path string) bool {
	ns, pod, _, ctr, ok := podOf(path)
	if !ok {
		return false
	}
	return (c.Namespace == nil || c.Namespace.MatchString(ns)) &&
		(c.Pod == nil || c.Pod.MatchString(pod)) &&
		(c.Container == nil || c.Container.MatchString(ctr))
}

// tags returns the pod tags of path.
func (c *Container) tags(path string) []batch.Tag {
	ns, pod, uid, ctr, ok := podOf(path)
	if !ok {
		return nil
	}
	var out []batch.Tag
	for _, t := range []batch.Tag{{Key: c.NamespaceTag, Value: ns}, {Key: c.PodTag, Value: pod}, {Key: c.PodUIDTag, Value: uid}, {Key: c.ContainerTag, Value: ctr}} {
		if t.Key != "" {
			out = append(out, t)
		}
	}
	return out
}

// Container log formats, told from a file's first byte.
const (
	fmtUnknown = iota
	fmtCRI
	fmtDocker
)

// Content keys of container records (LoongCollector's names).
const (
	timeKey   = "_time_"
	sourceKey = "_source_"
)

// crLine is one parsed physical line.
type crLine struct {
	time, stream, msg []byte
	// last is false for a partial line whose message continues on the next.
	last bool
	// escaped: msg is a JSON string body that needs unescaping.
	escaped bool
	ok      bool
}

func parseCRI(line []byte) (l crLine) {
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return l
	}
	l.time = line[:i]
	rest := line[i+1:]
	j := bytes.IndexByte(rest, ' ')
	if j <= 0 {
		return l
	}
	l.stream = rest[:j]
	rest = rest[j+1:]
	k := bytes.IndexByte(rest, ' ')
	tag := rest
	if k >= 0 {
		tag, l.msg = rest[:k], rest[k+1:]
	}
	if len(tag) == 0 || (tag[0] != 'P' && tag[0] != 'F') {
		return l
	}
	l.last = tag[0] == 'F'
	l.ok = true
	return l
}

// parseDocker reads the three keys of a json-file line without decoding the
// whole object: the log value is kept escaped and unescaped only when
// written out.
func parseDocker(line []byte) (l crLine) {
	v, ok := jsonStringField(line, `"log":"`)
	if !ok {
		return l
	}
	l.stream, _ = jsonStringField(line, `"stream":"`)
	l.time, _ = jsonStringField(line, `"time":"`)
	l.last = endsWithNewlineEscape(v)
	if l.last {
		v = v[:len(v)-2]
	}
	l.msg = v
	l.escaped = bytes.IndexByte(v, '\\') >= 0
	l.ok = true
	return l
}

// endsWithNewlineEscape reports whether the JSON string body v ends with
// the escape \n (an odd run of backslashes before the final n; `\\n` is
// an escaped backslash then a plain n).
func endsWithNewlineEscape(v []byte) bool {
	if len(v) < 2 || v[len(v)-1] != 'n' {
		return false
	}
	k := 0
	for i := len(v) - 2; i >= 0 && v[i] == '\\'; i-- {
		k++
	}
	return k%2 == 1
}

// jsonStringField returns the raw (still escaped) body of the JSON string
// that follows key.
func jsonStringField(line []byte, key string) ([]byte, bool) {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return nil, false
	}
	v := line[i+len(key):]
	for j := 0; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			return v[:j], true
		}
	}
	return nil, false
}

// appendUnescaped appends the JSON string body s, unescaped, to dst.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			r, n := hex4(s[i+1:])
			if n == 0 {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += n
			if utf16.IsSurrogate(r) && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, n2 := hex4(s[i+3:]); n2 > 0 {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 2 + n2
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // \" \\ \/ and anything else: the character itself
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hex4(s []byte) (rune, int) {
	if len(s) < 4 {
		return 0, 0
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}

func (r *reader) parseLine(line []byte) crLine {
	if r.cfmt == fmtUnknown && len(line) > 0 {
		r.cfmt = fmtCRI
		if line[0] == '{' {
			r.cfmt = fmtDocker
		}
	}
	if r.cfmt == fmtDocker {
		return parseDocker(line)
	}
	return parseCRI(line)
}

// frameContainer frames whole messages: the complete lines of buf up to and
// including a last part. A message whose parts are not all there yet stays
// in the carry, unless final (flush timeout) or longer than the bound.
func (r *reader) frameContainer(b *batch.Batch, final bool) int {
	buf := b.Buf
	sec, nsec := now()
	start := 0 // first line of the message being gathered
	pos := 0
	for pos < len(buf) {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			break
		}
		b.Lines++
		pos += i + 1
		if l := r.parseLine(buf[pos-i-1 : pos-1]); l.ok && !l.last && pos-start <= r.m.maxLine {
			continue // a partial part: the message goes on
		}
		r.emitMessage(b, sec, nsec, start, pos)
		start = pos
	}
	if start < len(buf) && (final || len(buf)-pos > r.m.maxLine) {
		// Flush timeout, or a line without its newline longer than the
		// bound (the runtimes split lines at 16 KiB, so not a container
		// log): hand it on as it is.
		r.emitMessage(b, sec, nsec, start, len(buf))
		start = len(buf)
	}
	return start
}

// emitMessage turns the lines buf[start:end] (one message: partial parts
// then a last part) into one record.
func (r *reader) emitMessage(b *batch.Batch, sec int64, nsec int32, start, end int) {
	c := r.m.container
	var first crLine
	parts := 0
	needCopy := false
	for p := start; p < end; {
		e := bytes.IndexByte(b.Buf[p:end], '\n')
		next := end
		if e >= 0 {
			next = p + e + 1
		} else {
			e = end - p
		}
		l := r.parseLine(b.Buf[p : p+e])
		if parts == 0 {
			first = l
		}
		if !l.ok || l.escaped {
			needCopy = true
		}
		parts++
		p = next
	}
	if first.ok {
		switch {
		case bytes.Equal(first.stream, []byte("stdout")) && c.IgnoreStdout,
			bytes.Equal(first.stream, []byte("stderr")) && c.IgnoreStderr:
			return // dropped on purpose: the offset still moves past it
		}
	}
	var content []byte
	if parts == 1 && !needCopy {
		content = first.msg
		if !first.ok {
			content = bytes.TrimSuffix(b.Buf[start:end], []byte{'\n'})
		}
	} else {
		n := len(b.Extra)
		for p := start; p < end; {
			e := bytes.IndexByte(b.Buf[p:end], '\n')
			next := end
			if e >= 0 {
				next = p + e + 1
			} else {
				e = end - p
			}
			l := r.parseLine(b.Buf[p : p+e])
			switch {
			case !l.ok:
				// Not a container log line: keep it whole, nothing is lost.
				b.Extra = append(b.Extra, b.Buf[p:p+e]...)
			case l.escaped:
				b.Extra = appendUnescaped(b.Extra, l.msg)
			default:
				b.Extra = append(b.Extra, l.msg...)
			}
			p = next
		}
		content = b.Extra[n:len(b.Extra):len(b.Extra)]
	}
	b.AddRecord(sec, nsec, content)
	if first.ok {
		b.AppendToLast(batch.Field{Key: timeKey, Value: first.time})
		b.AppendToLast(batch.Field{Key: sourceKey, Value: first.stream})
	}
}
