//go:build !linux

package compaction

// lowerPriority does nothing where per-thread priorities are not
// available.
func lowerPriority() {}
