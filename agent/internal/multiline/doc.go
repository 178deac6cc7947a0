// Package multiline groups the complete lines of a file into records, as the
// Multiline option of LoongCollector's input_file does.
//
// A [Framer] is a state machine fed one complete line at a time, by file
// offset: it never holds file bytes, so the reader keeps the bytes of the
// record being built (from [Framer.Pending]) and slices each finished [Span]
// out of them. A record is always one contiguous range of the file: its lines
// keep their '\n' separators and only the final '\n' is left out.
//
// # Modes
//
// In the custom mode (the default) the lines are matched against up to three
// regular expressions. Each pattern must match at the start of the line, but
// need not reach its end: LoongCollector runs them as a search anchored at the
// first byte of the line (boost match_continuous), after dropping one trailing
// "$" and any trailing ".*" from the pattern. A pattern that is empty after
// that is the same as no pattern.
//
//	Start only        a start line and the lines up to the next start line
//	Start + Continue  a start line and the continue lines right after it
//	Start + End       a start line up to and including the next end line
//	Continue + End    continue lines followed by an end line, or an end line alone
//	End only          any lines up to and including an end line
//
// Start, Continue and End together behave as Start + End (the ContinuePattern
// is ignored, as LoongCollector does); a ContinuePattern alone is an error.
// With no pattern at all every line is its own record.
//
// In the JSON mode a record is one JSON object that may span lines: a line
// whose first byte other than space, tab or NUL is '{' opens it, and it ends at
// the first end of line where the count of '{' and '}' outside strings is back
// to zero. A backslash skips the next byte, in and out of strings. Blank lines
// before an object belong to it.
//
// Lines that belong to no record are unmatched content: with the
// UnmatchedContentTreatment "single_line" (the default) each becomes a record
// of its own, with "discard" they are reported as [Span.Discard] ranges so the
// reader can still advance its offset over them.
//
// # Notes
//
//   - Patterns are Go RE2 syntax; LoongCollector uses boost (Perl) syntax, so a
//     look-around or a back-reference makes [New] fail instead of being
//     ignored with a warning.
//   - A record can only end when a later line (or [Framer.Flush]) proves it
//     complete. What Flush does to the pending record depends on the mode: a
//     record that needs no end line (Start only, Start + Continue) is
//     delivered as it is; a record still waiting for its end line or closing
//     brace is unmatched content.
//   - Lines fed after a Flush start afresh: the continuation lines of a record
//     cut by a flush timeout are unmatched, as in LoongCollector.
package multiline
