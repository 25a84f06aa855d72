package check

import (
	"time"

	"github.com/caskade/caskade/tests/robustness/history"
)

// Builders of synthetic operations; times are in milliseconds since the
// run began.

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func put(c int, key, value string, call, ret int, off uint64) history.Op {
	return history.Op{Client: c, Kind: history.Put, Key: key, Value: value, Call: ms(call), Return: ms(ret), Outcome: history.OK, Offset: off}
}

func del(c int, key string, call, ret int, off uint64) history.Op {
	return history.Op{Client: c, Kind: history.Delete, Key: key, Call: ms(call), Return: ms(ret), Outcome: history.OK, Offset: off}
}

func cas(c int, key string, expected uint64, value string, call, ret int, off uint64) history.Op {
	return history.Op{Client: c, Kind: history.CAS, Key: key, Expected: expected, Value: value, Call: ms(call), Return: ms(ret), Outcome: history.OK, Offset: off}
}

// casRefused is a CAS refused with FAILED_PRECONDITION, the key being at
// current (0: absent), with the client's error text.
func casRefused(c int, key string, expected uint64, value string, call, ret int, current uint64) history.Op {
	op := cas(c, key, expected, value, call, ret, 0)
	op.Outcome, op.Current = history.Failed, current
	op.Err = "compare-and-swap: compare-and-swap mismatch"
	return op
}

// get is a linearizable Get; value "" means not found.
func get(c int, key string, call, ret int, value string, off uint64) history.Op {
	return history.Op{Client: c, Kind: history.Get, Key: key, Call: ms(call), Return: ms(ret), Outcome: history.OK,
		Found: value != "", Got: value, Offset: off}
}

func staleGet(c int, key string, call, ret int, value string, off uint64) history.Op {
	op := get(c, key, call, ret, value, off)
	op.Consistency = history.Stale
	return op
}

func consume(c int, from uint64, call, ret int, key, value string, off uint64) history.Op {
	return history.Op{Client: c, Kind: history.Consume, From: from, Call: ms(call), Return: ms(ret), Outcome: history.OK,
		GotKey: key, Got: value, Offset: off}
}

func consumeTomb(c int, from uint64, call, ret int, key string, off uint64) history.Op {
	op := consume(c, from, call, ret, key, "", off)
	op.Tombstone = true
	return op
}

// ambiguous turns a write into one whose outcome was lost.
func ambiguous(op history.Op) history.Op {
	op.Outcome, op.Offset, op.Return, op.Err = history.Ambiguous, 0, 0, "write outcome unknown"
	return op
}

// failed turns an operation into one that definitely did not take effect.
func failed(op history.Op) history.Op {
	op.Outcome, op.Offset, op.Found, op.Got, op.Err = history.Failed, 0, false, "", "unavailable"
	return op
}

func rec(off uint64, key, value string) history.Record {
	return history.Record{Offset: off, Key: key, Value: value}
}

func tomb(off uint64, key string) history.Record {
	return history.Record{Offset: off, Key: key, Tombstone: true}
}

func nodeLog(node string, next uint64, recs ...history.Record) history.NodeLog {
	return history.NodeLog{Node: node, Records: recs, Next: next}
}
