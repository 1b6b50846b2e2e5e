package templates

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Overlay returns the templates with an operator's directory in front: a file
// dir holds is read from dir, every other file from the built-in FS. So dir
// holds only the files the operator changes (and may add some, such as
// static/logo.svg). An empty dir returns FS itself.
func Overlay(dir string) (fs.FS, error) {
	if dir == "" {
		return FS, nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("templates_dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("templates_dir: %s is not a directory", dir)
	}
	return overlayFS{top: os.DirFS(dir), base: FS}, nil
}

// overlayFS reads each name from top when top has it, else from base; a
// directory lists the entries of both, top's winning.
type overlayFS struct{ top, base fs.FS }

var (
	_ fs.ReadDirFS = overlayFS{}
	_ fs.StatFS    = overlayFS{}
)

// Open opens name from top, or from base when top has no such file.
func (o overlayFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := o.top.Open(name)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return o.base.Open(name)
}

// Stat describes name as Open would find it.
func (o overlayFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	fi, err := fs.Stat(o.top, name)
	if err == nil {
		return fi, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return fs.Stat(o.base, name)
}

// ReadDir lists the directory name in both layers, sorted by name; an entry
// in top hides base's entry of the same name.
func (o overlayFS) ReadDir(name string) ([]fs.DirEntry, error) {
	top, topErr := fs.ReadDir(o.top, name)
	base, baseErr := fs.ReadDir(o.base, name)
	if topErr != nil && baseErr != nil {
		if errors.Is(topErr, fs.ErrNotExist) {
			return nil, baseErr
		}
		return nil, topErr
	}
	if topErr != nil && !errors.Is(topErr, fs.ErrNotExist) {
		return nil, topErr
	}
	seen := map[string]bool{}
	var out []fs.DirEntry
	for _, e := range top {
		seen[e.Name()] = true
		out = append(out, e)
	}
	for _, e := range base {
		if !seen[e.Name()] {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// OperatorFiles lists the regular files of an Overlay's operator directory
// (slash-separated paths), so that the caller can check each one is used and
// parses; nil for FS itself.
func OperatorFiles(fsys fs.FS) ([]string, error) {
	o, ok := fsys.(overlayFS)
	if !ok {
		return nil, nil
	}
	var out []string
	err := fs.WalkDir(o.top, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("templates_dir: %w", err)
	}
	return out, nil
}
