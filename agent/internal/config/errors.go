package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in a pipeline config file. Its message names
// the file, the plugin and the key, for example
//
//	pipelines/app.yaml: inputs[0] (input_file): MaxDirSearchDepth: want an integer, got "abc"
//
// [LoadPipeline] returns several of them joined with [errors.Join]; use
// [errors.As] to get the first.
type Error struct {
	// File is the pipeline file.
	File string
	// Plugin says where in the file: "inputs[0] (input_file)",
	// "processors[2] (processor_wasm)", "flushers[1] (flusher_file)",
	// "global", or "" for the top level and the file as a whole.
	Plugin string
	// Key is the dotted key at fault, such as "Multiline.StartPattern", or ""
	// when the problem is not about one key.
	Key string
	// Err says what is wrong; its message names Key when Key is set.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Plugin != "" {
		b.WriteString(": ")
		b.WriteString(e.Plugin)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// keyError is a problem with the value of one key; its message starts with
// the key.
type keyError struct {
	key string
	msg string
}

func (e *keyError) Error() string { return e.key + ": " + e.msg }

func keyErrorf(key, format string, args ...any) *keyError {
	return &keyError{key: key, msg: fmt.Sprintf(format, args...)}
}

// unknownKeyError is a key that the section does not have.
type unknownKeyError struct {
	key        string
	suggestion string
}

func (e *unknownKeyError) Error() string {
	if e.suggestion != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", e.key, e.suggestion)
	}
	return fmt.Sprintf("unknown key %q", e.key)
}

// unknownKey builds the error for key, suggesting the closest of candidates.
// prefix ("Multiline.") is put in front of both the key and the suggestion.
func unknownKey(prefix, key string, candidates []string) error {
	e := &unknownKeyError{key: prefix + key}
	if s := closest(key, candidates); s != "" {
		e.suggestion = prefix + s
	}
	return e
}

// didYouMean returns ` (did you mean "x"?)` for the closest candidate, or "".
func didYouMean(s string, candidates []string) string {
	if c := closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// closest returns the candidate nearest to s by edit distance, ignoring
// case, or "" when none is near enough to be a likely typo.
func closest(s string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	ls := strings.ToLower(s)
	best, bestDist := "", -1
	for _, c := range sorted {
		if c == s {
			continue
		}
		d := levenshtein(ls, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Two edits catch most typos; long names tolerate a little more.
	limit := 2
	if len(s) >= 10 {
		limit = 3
	}
	if bestDist < 0 || bestDist > limit || bestDist >= len(s) {
		return ""
	}
	return best
}

// levenshtein is the edit distance between a and b (insertions, deletions
// and substitutions of bytes).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
