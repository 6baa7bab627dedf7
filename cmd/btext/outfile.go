package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Output files follow what curl -o and install(1) users expect: a regular
// file is replaced atomically (temporary file, fsync, rename) and only with
// --force, a new one is created whole (temporary file, link); anything else (a device such as /dev/null, a FIFO) is written to
// in place and never replaced; a symlink is followed and stays a symlink.

// outKind is what an output path resolves to.
type outKind int

const (
	outNew     outKind = iota // nothing there yet
	outRegular                // an existing regular file
	outSpecial                // a device, FIFO or socket: written in place
)

// outTarget is an output path resolved through its symlinks.
type outTarget struct {
	path string // what the user gave, for messages
	real string // the file the rules apply to
	kind outKind
}

// maxSymlinks bounds the links followed, as the kernel's ELOOP does.
const maxSymlinks = 40

// resolveOutput follows path's symlinks and says what is there. A
// directory is a usage error (exit 2).
func resolveOutput(path string) (outTarget, error) {
	t := outTarget{path: path, real: path}
	if isStdStream(path) {
		t.kind = outSpecial
		return t, nil
	}
	for range maxSymlinks {
		fi, err := os.Lstat(t.real)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			t.kind = outNew
			return t, nil
		case err != nil:
			return t, fmt.Errorf("output %s: %w", path, pathCause(err))
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(t.real)
			if err != nil {
				return t, fmt.Errorf("output %s: %w", path, pathCause(err))
			}
			if !filepath.IsAbs(link) {
				link = filepath.Join(filepath.Dir(t.real), link)
			}
			t.real = link
			if isStdStream(link) {
				t.kind = outSpecial
				return t, nil
			}
			continue
		case fi.IsDir():
			return t, usagef("output %s is a directory", path)
		case fi.Mode().IsRegular():
			t.kind = outRegular
		default:
			t.kind = outSpecial
		}
		return t, nil
	}
	return t, fmt.Errorf("output %s: %w", path, syscall.ELOOP)
}

// isStdStream reports the names of this process's own descriptors, whose
// symlinks lead to whatever the descriptor is (maybe a regular file the
// shell redirected to): they are written in place, like a device.
func isStdStream(p string) bool {
	switch p {
	case "/dev/stdout", "/dev/stderr":
		return true
	}
	return strings.HasPrefix(p, "/dev/fd/") || strings.HasPrefix(p, "/proc/self/fd/")
}

// checkOutput is done before any peer is dialled: the directory of a new
// file must exist and be writable, and an existing regular file needs force.
func checkOutput(path string, force bool) error {
	t, err := resolveOutput(path)
	if err != nil {
		return err
	}
	switch t.kind {
	case outRegular:
		if !force {
			return usagef("%s exists (use --force to overwrite)", path)
		}
		return checkDir(path, filepath.Dir(t.real))
	case outNew:
		return checkDir(path, filepath.Dir(t.real))
	}
	return nil
}

func checkDir(path, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("output %s: directory %s: %w", path, dir, pathCause(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("output %s: %s is not a directory: %w", path, dir, syscall.ENOTDIR)
	}
	if err := syscall.Access(dir, 0o3); err != nil { // W_OK|X_OK: a file can be created there
		return fmt.Errorf("output %s: directory %s: %w", path, dir, err)
	}
	return nil
}

// writeOutput writes the parts of b, in turn, to path by the rules above.
// Without force an existing regular file is never replaced, even one that
// appeared after checkOutput.
func writeOutput(path string, b [][]byte, force bool) error {
	t, err := resolveOutput(path)
	if err != nil {
		return err
	}
	switch t.kind {
	case outSpecial:
		return writeInPlace(t, b)
	case outRegular:
		if !force {
			return usagef("%s exists (use --force to overwrite)", path)
		}
	}
	return replaceFile(t, b, force)
}

// writeInPlace writes to a device or FIFO: never truncated, renamed or
// removed.
func writeInPlace(t outTarget, b [][]byte) error {
	f, err := os.OpenFile(t.real, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", t.path, pathCause(err))
	}
	err = writeParts(f, b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", t.path, pathCause(err))
	}
	return nil
}

// replaceFile writes a temporary file beside t.real and moves it into
// place. The temporary file is created with mode 0666, so the umask
// decides the final mode, as for any file a program creates.
func replaceFile(t outTarget, b [][]byte, force bool) error {
	fail := func(err error) error { return fmt.Errorf("write %s: %w", t.path, pathCause(err)) }
	tmp, err := createTemp(filepath.Dir(t.real))
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	err = writeParts(tmp, b)
	if err == nil && syncBeforeRename(t) {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if force {
		if err := os.Rename(tmp.Name(), t.real); err != nil {
			return fail(err)
		}
		return nil
	}
	if err := os.Link(tmp.Name(), t.real); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usagef("%s exists (use --force to overwrite)", t.path)
		}
		return fail(err)
	}
	return nil
}

// syncBeforeRename reports whether the temporary file must reach the disk
// before it takes t's place: only when it replaces a file. Renamed over a
// file, unsynced data could leave neither the old content nor the new
// after a power cut; a new file has nothing to lose, and is left to the
// kernel's writeback as curl -o and wget leave theirs. The fsync costs
// 8 to 20 ms for a 2.6 MB .torrent on this project's test machines, more
// than the fetch itself (BENCHMARKS.md).
func syncBeforeRename(t outTarget) bool { return t.kind == outRegular }

// writeParts writes each part in turn; os.File.Write writes a part
// whole or says why not.
func writeParts(f *os.File, parts [][]byte) error {
	for _, p := range parts {
		if _, err := f.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// createTemp is os.CreateTemp with mode 0666 rather than 0600.
func createTemp(dir string) (*os.File, error) {
	for range 100 {
		var r [6]byte
		_, _ = rand.Read(r[:])
		name := filepath.Join(dir, ".btext-"+hex.EncodeToString(r[:])+".tmp")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("create a temporary file in %s: %w", dir, fs.ErrExist)
}

// pathCause drops the *fs.PathError's own path (maybe our temporary
// name): messages name the user's path instead.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
