//go:build !unix

package main

import "io/fs"

// allocated returns the file's apparent size where the allocated size is
// not known.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }
