// Package logging builds a node's *slog.Logger from its config: records go
// to rotated files ([log.file]) and, optionally, to stderr ([log.stderr]),
// each with its own level and format.
//
// Usage, in main:
//
//	opts := logging.Options{File: logging.FileOptions{On: true, Dir: dir, ...}}
//	lg, file, err := logging.Open(opts, os.Stderr) // creates nothing yet
//	if err != nil { ... }
//	defer file.Close()
//	// ... the checks of start-up that change nothing on disk, logging to lg
//	if err := file.Create(); err != nil { ... } // the records so far go in
//	fmt.Fprintf(os.Stderr, "databend-meta: %s\n", opts) // where the logs go
//
// The logger is passed to the packages that log; there is no package-level
// logger.
//
// # Log directory
//
//	<dir>/databend-meta.log                              the current file
//	<dir>/databend-meta.log.2024-05-01T12-30-45.123Z     rotated files, UTC
//
// Each record is one line: a JSON object by default (slog's JSONHandler:
// "time", "level", "msg", then the record's attributes), or slog's
// key=value text. Before a write would take the current file past its
// maximum size, the file is renamed with the current UTC time, to the
// millisecond, appended, and a new file is started; a record is never
// split across files. Rotated names are unique and sort in rotation order,
// even if the clock goes back. Then the oldest rotated files are deleted so
// that at most Limit files remain, the current one included. Files in the
// directory with other names are left alone.
package logging
