// Package discover finds the files an input_file pipeline reads and watches
// the directories they live in.
//
// Patterns follow LoongCollector's input_file FilePaths: an absolute path
// whose components may hold the wildcards of [path/filepath.Match] ("*"
// never matches "/"), plus at most one "**" component, which must be the
// last directory component, right before the file-name glob:
//
//	/var/log/app/*.log           files in one directory
//	/var/log/*/app/*.log         "*" in a directory component
//	/var/log/**/*.log            /var/log and its sub-directories, up to
//	                             Options.MaxDirSearchDepth levels below it
//
// MaxDirSearchDepth counts the directory levels "**" may descend: 0 means
// the base directory only (/var/log above), 1 adds its children, and so on.
// It has no effect on a pattern without "**".
//
// Files are then filtered by three exclude lists: ExcludeFilePaths (globs
// over the whole absolute path), ExcludeFiles (globs over the base name)
// and ExcludeDirs (globs over absolute directory paths; a file anywhere
// below a matching directory is excluded). An exclude glob that contains
// "**" lets "*" match "/" too, as LoongCollector does.
//
// A [Matcher] answers whether a path would be collected ([Matcher.Match]),
// lists the regular files that are there now ([Matcher.Scan]) and the
// directories worth watching ([Matcher.Dirs]). A [Watcher] turns inotify
// events into cheap callbacks and keeps its watches in step with the
// directories as they come and go.
//
// # Notes
//
//   - Scan walks from the fixed prefix of each pattern, never from the
//     root, expands wildcard components with one [os.ReadDir] per
//     directory and stats only the entries whose names match.
//   - Symbolic links to files and to directories are followed; a directory
//     reached twice is searched once and a loop is reported, not followed.
//     A file reached through two paths (a symlink or a hard link) is listed
//     once, under the first path in sorted order.
//   - Watching is best effort: a directory that cannot be watched (the
//     inotify watch limit, say) is counted, not fatal. Callers are expected
//     to call Scan periodically and on every Overflow event, which makes up
//     for anything the watches missed.
//
// A typical caller:
//
//	m, err := discover.NewMatcher(discover.Options{Patterns: []string{"/var/log/**/*.log"}, MaxDirSearchDepth: 2})
//	if err != nil {
//		return err
//	}
//	w, err := discover.NewWatcher(m, func(path string, op discover.Op) {
//		select {
//		case wake <- struct{}{}: // a rescan or a read is due; never block here
//		default:
//		}
//	})
//	if err != nil {
//		return err
//	}
//	defer w.Close()
//	if err := w.Start(ctx); err != nil {
//		return err
//	}
//	files, errs := m.Scan() // after Start, so nothing created in between is missed
package discover
