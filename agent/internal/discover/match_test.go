package discover

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewMatcherErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string // substring; "" means valid
	}{
		{name: "plain", opts: Options{Patterns: []string{"/var/log/app/*.log"}}},
		{name: "recursive", opts: Options{Patterns: []string{"/var/log/**/*.log"}, MaxDirSearchDepth: 1000}},
		{name: "wildcard dir", opts: Options{Patterns: []string{"/var/log/*/app-?/[a-z]*.log"}}},
		{name: "wildcard dir and recursive", opts: Options{Patterns: []string{"/var/*/app/**/*.log"}}},
		{name: "file in root", opts: Options{Patterns: []string{"/*.log"}}},
		{name: "root recursive", opts: Options{Patterns: []string{"/**/*.log"}}},
		{name: "excludes", opts: Options{
			Patterns:         []string{"/var/log/**/*.log"},
			ExcludeFilePaths: []string{"/var/log/*/secret.log", "/var/log/**/tmp-*.log"},
			ExcludeFiles:     []string{"*.gz", "debug-?.log"},
			ExcludeDirs:      []string{"/var/log/cache", "/var/log/*/tmp", "/var/**/old"},
		}},
		{name: "no patterns", opts: Options{}, wantErr: "no file patterns"},
		{name: "relative pattern", opts: Options{Patterns: []string{"var/log/*.log"}}, wantErr: `"var/log/*.log": not an absolute path`},
		{name: "no file name", opts: Options{Patterns: []string{"/"}}, wantErr: "no file name"},
		{name: "** in file name", opts: Options{Patterns: []string{"/var/log/**.log"}}, wantErr: "** may only be a directory component"},
		{name: "** twice", opts: Options{Patterns: []string{"/var/**/log/**/*.log"}}, wantErr: "only once"},
		{name: "** not last dir", opts: Options{Patterns: []string{"/var/**/log/*.log"}}, wantErr: "right before the file name"},
		{name: "** inside a component", opts: Options{Patterns: []string{"/var/log/a**/*.log"}}, wantErr: "whole directory component"},
		{name: "bad glob in file", opts: Options{Patterns: []string{"/var/log/[a-.log"}}, wantErr: "syntax error in pattern"},
		{name: "bad glob in dir", opts: Options{Patterns: []string{"/var/[/x.log"}}, wantErr: "syntax error in pattern"},
		{name: "negative depth", opts: Options{Patterns: []string{"/var/log/**/*.log"}, MaxDirSearchDepth: -1}, wantErr: "MaxDirSearchDepth -1 out of range"},
		{name: "depth too large", opts: Options{Patterns: []string{"/var/log/**/*.log"}, MaxDirSearchDepth: 1001}, wantErr: "out of range"},
		{name: "relative ExcludeFilePaths", opts: Options{Patterns: []string{"/a/*.log"}, ExcludeFilePaths: []string{"a/b.log"}}, wantErr: `ExcludeFilePaths "a/b.log": not an absolute path`},
		{name: "relative ExcludeDirs", opts: Options{Patterns: []string{"/a/*.log"}, ExcludeDirs: []string{"tmp"}}, wantErr: `ExcludeDirs "tmp": not an absolute path`},
		{name: "bad ExcludeDirs glob", opts: Options{Patterns: []string{"/a/*.log"}, ExcludeDirs: []string{"/a/[b"}}, wantErr: "ExcludeDirs"},
		{name: "bad ** ExcludeDirs glob", opts: Options{Patterns: []string{"/a/*.log"}, ExcludeDirs: []string{"/a/**/[b"}}, wantErr: "ExcludeDirs"},
		{name: "ExcludeFiles with a slash", opts: Options{Patterns: []string{"/a/*.log"}, ExcludeFiles: []string{"tmp/*.log"}}, wantErr: `ExcludeFiles "tmp/*.log": a file name may not contain /`},
		{name: "bad ExcludeFiles glob", opts: Options{Patterns: []string{"/a/*.log"}, ExcludeFiles: []string{"[x"}}, wantErr: "ExcludeFiles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.opts)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, m)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Nil(t, m)
		})
	}
}

func TestMatch(t *testing.T) {
	type check struct {
		path string
		want bool
	}
	tests := []struct {
		name   string
		opts   Options
		checks []check
	}{
		{
			name: "file glob",
			opts: Options{Patterns: []string{"/var/log/app/*.log"}},
			checks: []check{
				{"/var/log/app/a.log", true},
				{"/var/log/app/.log", true},
				{"/var/log/app/a.txt", false},
				{"/var/log/app/sub/a.log", false},
				{"/var/log/a.log", false},
				{"/var/log/app2/a.log", false},
				{"/var/log/app//a.log", true}, // cleaned
				{"var/log/app/a.log", false},
				{"/var/log/app/", false},
			},
		},
		{
			name: "prefix glob",
			opts: Options{Patterns: []string{"/var/log/app-*.log"}},
			checks: []check{
				{"/var/log/app-1.log", true},
				{"/var/log/app-.log", true},
				{"/var/log/app.log", false},
				{"/var/log/app-1.log.1", false},
			},
		},
		{
			name: "star in a dir component",
			opts: Options{Patterns: []string{"/var/log/*/app/*.log"}},
			checks: []check{
				{"/var/log/ns1/app/a.log", true},
				{"/var/log/ns1/x/app/a.log", false}, // * never crosses /
				{"/var/log/app/a.log", false},
				{"/var/log/ns1/app/sub/a.log", false},
			},
		},
		{
			name: "** depth 0",
			opts: Options{Patterns: []string{"/var/log/**/*.log"}},
			checks: []check{
				{"/var/log/a.log", true},
				{"/var/log/d1/a.log", false},
			},
		},
		{
			name: "** depth 2",
			opts: Options{Patterns: []string{"/var/log/**/*.log"}, MaxDirSearchDepth: 2},
			checks: []check{
				{"/var/log/a.log", true},
				{"/var/log/d1/a.log", true},
				{"/var/log/d1/d2/a.log", true},
				{"/var/log/d1/d2/d3/a.log", false},
				{"/var/logs/a.log", false},
				{"/var/a.log", false},
			},
		},
		{
			name: "** from the root",
			opts: Options{Patterns: []string{"/**/*.log"}, MaxDirSearchDepth: 1},
			checks: []check{
				{"/a.log", true},
				{"/var/a.log", true},
				{"/var/log/a.log", false},
			},
		},
		{
			name: "wildcard dir and **",
			opts: Options{Patterns: []string{"/pods/*/app/**/*.log"}, MaxDirSearchDepth: 1},
			checks: []check{
				{"/pods/p1/app/a.log", true},
				{"/pods/p1/app/d/a.log", true},
				{"/pods/p1/app/d/e/a.log", false},
				{"/pods/p1/other/a.log", false},
			},
		},
		{
			name: "excludes",
			opts: Options{
				Patterns:          []string{"/var/log/**/*.log"},
				MaxDirSearchDepth: 5,
				ExcludeFilePaths:  []string{"/var/log/*/secret.log", "/var/log/**/tmp-*.log"},
				ExcludeFiles:      []string{"debug-*"},
				ExcludeDirs:       []string{"/var/log/cache", "/var/log/*/old", "/var/**/hidden"},
			},
			checks: []check{
				{"/var/log/a.log", true},
				{"/var/log/secret.log", true},
				{"/var/log/x/secret.log", false},
				{"/var/log/x/y/secret.log", true}, // * does not cross /
				{"/var/log/x/y/tmp-1.log", false}, // ** does
				{"/var/log/debug-1.log", false},
				{"/var/log/cache/a.log", false},
				{"/var/log/cache/deep/a.log", false},
				{"/var/log/cache2/a.log", true},
				{"/var/log/x/old/a.log", false},
				{"/var/log/x/old/y/a.log", false},
				{"/var/log/old/a.log", true},
				{"/var/log/a/b/hidden/c/a.log", false},
			},
		},
		{
			name: "excluded ancestor above the base",
			opts: Options{Patterns: []string{"/var/log/app/*.log"}, ExcludeDirs: []string{"/var/*"}},
			checks: []check{
				{"/var/log/app/a.log", false},
			},
		},
		{
			name: "several patterns",
			opts: Options{Patterns: []string{"/a/*.log", "/b/**/*.txt"}, MaxDirSearchDepth: 1},
			checks: []check{
				{"/a/x.log", true},
				{"/a/x.txt", false},
				{"/b/x.txt", true},
				{"/b/c/x.txt", true},
				{"/b/x.log", false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.opts)
			require.NoError(t, err)
			for _, c := range tt.checks {
				assert.Equal(t, c.want, m.Match(c.path), "Match(%q)", c.path)
			}
		})
	}
}
