//go:build unix

package main

import (
	"io/fs"
	"syscall"
)

// allocated returns the bytes the filesystem has allocated to a file
// (st_blocks × 512): blocks reserved by fallocate count, holes of a sparse
// file do not.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}
