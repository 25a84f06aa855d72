package engine

import "github.com/caskade/caskade/engine/segment"

// SetMergeHook makes db call h at each step of a merge (tests simulate a
// crash there by copying the directory).
func SetMergeHook(db *DB, h func(segment.MergeStep) error) { db.mergeHook = h }

// StepRelocating is the hook step halfway through moving keydir entries.
const StepRelocating = stepRelocating
