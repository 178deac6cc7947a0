package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClosest(t *testing.T) {
	tests := []struct {
		name       string
		s          string
		candidates []string
		want       string
	}{
		{name: "one letter missing", s: "FilePath", candidates: []string{"FilePaths", "FileEncoding"}, want: "FilePaths"},
		{name: "case only", s: "onlystdout", candidates: []string{"OnlyStdout", "FileName"}, want: "OnlyStdout"},
		{name: "two edits", s: "Worker", candidates: []string{"Workers", "QueueMB"}, want: "Workers"},
		{name: "long name, three edits", s: "FilePathTag", candidates: []string{"FilePathTagKey"}, want: "FilePathTagKey"},
		{name: "too far", s: "Colour", candidates: []string{"FilePaths", "Tags"}, want: ""},
		{name: "short key", s: "x", candidates: []string{"Tags"}, want: ""},
		{name: "tie goes to the first in order", s: "Tag", candidates: []string{"Tags", "Tab"}, want: "Tab"},
		{name: "no candidates", s: "Tags", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, closest(tt.s, tt.candidates))
		})
	}
}

func TestLevenshtein(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{name: "equal", a: "abc", b: "abc", want: 0},
		{name: "empty", a: "", b: "abc", want: 3},
		{name: "substitution", a: "abc", b: "abd", want: 1},
		{name: "insertion and deletion", a: "kitten", b: "sitting", want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, levenshtein(tt.a, tt.b))
		})
	}
}
