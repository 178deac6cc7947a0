package discover

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// MaxDirSearchDepthLimit is the largest MaxDirSearchDepth accepted, as in
// LoongCollector.
const MaxDirSearchDepthLimit = 1000

// Options selects the files of one input_file pipeline. The field names are
// those of LoongCollector's input_file parameters.
type Options struct {
	// Patterns are absolute path globs (FilePaths), for example
	// /var/log/app/*.log, /var/log/**/*.log or /var/log/*/app/*.log. A file
	// matching any of them is collected unless excluded. At least one is
	// required.
	Patterns []string
	// MaxDirSearchDepth is how many directory levels a "**" may descend
	// below its base directory; 0 (the default) means the base directory
	// only. Valid range 0..1000; ignored by patterns without "**".
	MaxDirSearchDepth int
	// ExcludeFilePaths are absolute path globs; a file whose path matches
	// one is not collected. Default none.
	ExcludeFilePaths []string
	// ExcludeFiles are base-name globs; a file whose name matches one is not
	// collected. They may not contain "/". Default none.
	ExcludeFiles []string
	// ExcludeDirs are absolute directory globs; a file in or below a
	// matching directory, at any depth, is not collected. Default none.
	ExcludeDirs []string
}

// File is a regular file found by [Matcher.Scan].
type File struct {
	// Path is the path the file was found under (symbolic links are not
	// resolved in it).
	Path string
	// Dev and Ino identify the file itself (the symlink target, if Path
	// is a symbolic link).
	Dev, Ino uint64
	Size     int64
	ModTime  time.Time
}

// Matcher decides which files a pipeline collects. It is immutable and safe
// for concurrent use.
type Matcher struct {
	pats      []pattern
	maxDepth  int
	exclPaths []glob
	exclFiles []glob
	exclDirs  []glob
}

// pattern is one parsed entry of Options.Patterns.
type pattern struct {
	raw string
	// prefix is the longest leading directory without wildcards; the
	// search starts there.
	prefix string
	// rest are the directory components after prefix, up to the base
	// directory (the "**" itself is not among them).
	rest []glob
	// dir are all the components of the base directory, for Match.
	dir []glob
	// recursive is set when the pattern has "**".
	recursive bool
	file      glob
}

// glob is one glob with its matching strategy chosen once.
type glob struct {
	s   string
	lit bool           // no metacharacters: compare strings
	re  *regexp.Regexp // set for exclude globs with "**": "*" crosses "/"
}

func (g glob) match(name string) bool {
	switch {
	case g.lit:
		return g.s == name
	case g.re != nil:
		return g.re.MatchString(name)
	}
	ok, _ := filepath.Match(g.s, name) // validated in newGlob
	return ok
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// newGlob validates s as a filepath.Match pattern.
func newGlob(s string) (glob, error) {
	if !hasMeta(s) {
		return glob{s: s, lit: true}, nil
	}
	if _, err := filepath.Match(s, ""); err != nil {
		return glob{}, err
	}
	return glob{s: s}, nil
}

// NewMatcher validates o and returns its Matcher. Every pattern must be
// absolute, have a file-name part, and use "**" at most once, as the last
// directory component; exclude paths must be absolute and exclude file
// names may not contain "/". Errors name the offending entry.
func NewMatcher(o Options) (*Matcher, error) {
	if len(o.Patterns) == 0 {
		return nil, errors.New("discover: no file patterns")
	}
	if o.MaxDirSearchDepth < 0 || o.MaxDirSearchDepth > MaxDirSearchDepthLimit {
		return nil, fmt.Errorf("discover: MaxDirSearchDepth %d out of range 0..%d", o.MaxDirSearchDepth, MaxDirSearchDepthLimit)
	}
	m := &Matcher{maxDepth: o.MaxDirSearchDepth}
	for _, raw := range o.Patterns {
		p, err := parsePattern(raw)
		if err != nil {
			return nil, fmt.Errorf("discover: file pattern %q: %w", raw, err)
		}
		m.pats = append(m.pats, p)
	}
	var err error
	if m.exclPaths, err = absGlobs("ExcludeFilePaths", o.ExcludeFilePaths); err != nil {
		return nil, err
	}
	if m.exclDirs, err = absGlobs("ExcludeDirs", o.ExcludeDirs); err != nil {
		return nil, err
	}
	for _, s := range o.ExcludeFiles {
		if strings.Contains(s, "/") {
			return nil, fmt.Errorf("discover: ExcludeFiles %q: a file name may not contain /", s)
		}
		g, err := newGlob(s)
		if err != nil {
			return nil, fmt.Errorf("discover: ExcludeFiles %q: %w", s, err)
		}
		m.exclFiles = append(m.exclFiles, g)
	}
	return m, nil
}

func parsePattern(raw string) (pattern, error) {
	if !filepath.IsAbs(raw) {
		return pattern{}, errors.New("not an absolute path")
	}
	clean := filepath.Clean(raw)
	dir, file := filepath.Split(clean)
	if file == "" {
		return pattern{}, errors.New("no file name")
	}
	if strings.Contains(file, "**") {
		return pattern{}, errors.New("** may only be a directory component, before the file name")
	}
	p := pattern{raw: raw}
	var err error
	if p.file, err = newGlob(file); err != nil {
		return pattern{}, err
	}
	comps := strings.Split(strings.Trim(dir, "/"), "/")
	if comps[0] == "" {
		comps = nil // the file is in /
	}
	if n := strings.Count(dir, "**"); n > 1 {
		return pattern{}, errors.New("** may appear only once")
	}
	prefix := 0
	for i, c := range comps {
		if strings.Contains(c, "**") {
			if c != "**" || i != len(comps)-1 {
				return pattern{}, errors.New("** must be a whole directory component right before the file name")
			}
			p.recursive = true
			comps = comps[:i]
			break
		}
		g, err := newGlob(c)
		if err != nil {
			return pattern{}, err
		}
		if g.lit && prefix == i {
			prefix++
		}
		p.dir = append(p.dir, g)
	}
	p.prefix = "/" + strings.Join(comps[:prefix], "/")
	p.rest = p.dir[prefix:]
	return p, nil
}

func absGlobs(field string, ss []string) ([]glob, error) {
	var gs []glob
	for _, s := range ss {
		if !filepath.IsAbs(s) {
			return nil, fmt.Errorf("discover: %s %q: not an absolute path", field, s)
		}
		s = filepath.Clean(s)
		var g glob
		var err error
		if strings.Contains(s, "**") {
			g, err = crossGlob(s)
		} else {
			g, err = newGlob(s)
		}
		if err != nil {
			return nil, fmt.Errorf("discover: %s %q: %w", field, s, err)
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// crossGlob compiles a glob in which "*" and "?" also match "/" (fnmatch
// without FNM_PATHNAME, which LoongCollector uses for excludes with "**").
func crossGlob(s string) (glob, error) {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			b.WriteString(`.*`)
			for i+1 < len(s) && s[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+1 == len(s) {
				return glob{}, filepath.ErrBadPattern
			}
			i++
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		case '[':
			j := i + 1
			if j < len(s) && (s[j] == '!' || s[j] == '^') {
				j++
			}
			if j < len(s) && s[j] == ']' {
				j++
			}
			for j < len(s) && s[j] != ']' {
				j++
			}
			if j == len(s) {
				return glob{}, filepath.ErrBadPattern
			}
			body := s[i+1 : j]
			b.WriteByte('[')
			if body[0] == '!' || body[0] == '^' {
				b.WriteByte('^')
				body = body[1:]
			}
			for k := 0; k < len(body); k++ {
				switch body[k] {
				case '\\', '[', ']', '^':
					b.WriteByte('\\')
				}
				b.WriteByte(body[k])
			}
			b.WriteByte(']')
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
	}
	b.WriteByte('$')
	re, err := regexp.Compile(b.String())
	if err != nil {
		return glob{}, filepath.ErrBadPattern
	}
	return glob{s: s, re: re}, nil
}

// Match reports whether the regular file at path would be collected: path
// matches a pattern, lies within MaxDirSearchDepth of a "**" base and is not
// excluded. It looks at the string only, not at the file system; path must
// be absolute.
func (m *Matcher) Match(path string) bool {
	if !filepath.IsAbs(path) {
		return false
	}
	path = filepath.Clean(path) // no allocation when already clean
	i := strings.LastIndexByte(path, '/')
	dir, name := path[:i], path[i+1:]
	if dir == "" {
		dir = "/"
	}
	if name == "" {
		return false
	}
	for i := range m.pats {
		p := &m.pats[i]
		if p.file.match(name) && m.dirMatch(p, dir) {
			return !m.fileExcluded(path, name) && !m.underExcludedDir(dir)
		}
	}
	return false
}

// dirMatch reports whether dir (clean, absolute) is p's base directory or,
// for "**", within MaxDirSearchDepth below it.
func (m *Matcher) dirMatch(p *pattern, dir string) bool {
	rest := dir[1:] // without the leading "/"
	for _, g := range p.dir {
		if rest == "" {
			return false
		}
		c := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			c, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if !g.match(c) {
			return false
		}
	}
	if rest == "" {
		return true
	}
	return p.recursive && strings.Count(rest, "/")+1 <= m.maxDepth
}

// fileExcluded applies ExcludeFiles and ExcludeFilePaths.
func (m *Matcher) fileExcluded(path, name string) bool {
	for _, g := range m.exclFiles {
		if g.match(name) {
			return true
		}
	}
	for _, g := range m.exclPaths {
		if g.match(path) {
			return true
		}
	}
	return false
}

// dirExcluded reports whether dir itself matches ExcludeDirs.
func (m *Matcher) dirExcluded(dir string) bool {
	for _, g := range m.exclDirs {
		if g.match(dir) {
			return true
		}
	}
	return false
}

// underExcludedDir reports whether dir or one of its ancestors matches
// ExcludeDirs.
func (m *Matcher) underExcludedDir(dir string) bool {
	if len(m.exclDirs) == 0 {
		return false
	}
	for {
		if m.dirExcluded(dir) {
			return true
		}
		if dir == "/" {
			return false
		}
		i := strings.LastIndexByte(dir, '/')
		if i == 0 {
			dir = "/"
		} else {
			dir = dir[:i]
		}
	}
}
