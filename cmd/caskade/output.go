package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caskade/caskade/engine"
)

// jsonItem is a key's value as --json prints it. Keys and values that are
// valid UTF-8 are strings; others are base64, marked by the *_encoding
// field, so that no byte string is ambiguous.
type jsonItem struct {
	Key           string  `json:"key"`
	KeyEncoding   string  `json:"key_encoding,omitempty"`
	Value         *string `json:"value,omitempty"` // absent with --keys-only
	ValueEncoding string  `json:"value_encoding,omitempty"`
	Offset        uint64  `json:"offset"`
	Timestamp     string  `json:"timestamp,omitempty"` // RFC 3339, UTC; absent when unknown (--keys-only)
	Expiry        string  `json:"expiry,omitempty"`    // RFC 3339, UTC; absent when the key never expires
}

func newJSONItem(it *engine.Item) jsonItem {
	return itemJSON(it.Key, it.Value, it.Offset, it.Timestamp, it.Expiry)
}

// itemJSON builds a jsonItem from a key's fields, whichever API read it;
// a nil value is absent (keys only). Times are unix nanoseconds, 0 unknown.
func itemJSON(key, value []byte, offset uint64, timestamp, expiry int64) jsonItem {
	j := jsonItem{Offset: offset, Timestamp: jsonTime(timestamp), Expiry: jsonTime(expiry)}
	j.Key, j.KeyEncoding = encodeBytes(key)
	if value != nil {
		var v string
		v, j.ValueEncoding = encodeBytes(value)
		j.Value = &v
	}
	return j
}

// Record types as consume prints them.
const (
	recordPut       = "put"
	recordTombstone = "tombstone"
	recordMessage   = "message" // keyless, from produce
)

func recordType(r *engine.Record) string {
	switch {
	case len(r.Key) == 0:
		return recordMessage
	case r.Flags&engine.FlagTombstone != 0:
		return recordTombstone
	}
	return recordPut
}

// jsonRecord is a log record as consume --json prints it.
type jsonRecord struct {
	Offset        uint64  `json:"offset"`
	Type          string  `json:"type"` // put, tombstone or message
	Key           string  `json:"key,omitempty"`
	KeyEncoding   string  `json:"key_encoding,omitempty"`
	Value         *string `json:"value,omitempty"` // absent for a tombstone
	ValueEncoding string  `json:"value_encoding,omitempty"`
	Timestamp     string  `json:"timestamp"`
	Expiry        string  `json:"expiry,omitempty"`
}

func newJSONRecord(r *engine.Record) jsonRecord {
	return recordJSON(r.Offset, recordType(r), r.Key, r.Value, r.Timestamp, r.Expiry)
}

// recordJSON builds a jsonRecord from a record's fields, whichever API read
// it. typ is recordPut, recordTombstone or recordMessage.
func recordJSON(offset uint64, typ string, key, value []byte, timestamp, expiry int64) jsonRecord {
	j := jsonRecord{Offset: offset, Type: typ, Timestamp: jsonTime(timestamp), Expiry: jsonTime(expiry)}
	j.Key, j.KeyEncoding = encodeBytes(key)
	if typ != recordTombstone {
		var v string
		v, j.ValueEncoding = encodeBytes(value)
		j.Value = &v
	}
	return j
}

// writeRecordLine writes one record as a tab-separated line:
// OFFSET, TYPE, KEY and (except for a tombstone) VALUE.
func writeRecordLine(w io.Writer, offset uint64, typ string, key, value []byte) {
	if typ == recordTombstone {
		fmt.Fprintf(w, "%d\t%s\t%s\n", offset, typ, display(key))
		return
	}
	fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", offset, typ, display(key), display(value))
}

// encodeBytes returns b as a string if it is valid UTF-8, else as base64
// with encoding "base64".
func encodeBytes(b []byte) (s, encoding string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// jsonTime formats unix nanoseconds as RFC 3339 in UTC; 0 is "".
func jsonTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// unixNano returns t in unix nanoseconds; the zero Time is 0 (unknown or
// never), as jsonTime expects.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// display renders bytes for text output, one field of a tab-separated
// line: printable UTF-8 as it is, anything else (control characters such
// as tab or newline, invalid UTF-8, or a leading double quote) Go-quoted.
// --json gives the exact bytes.
func display(b []byte) string {
	if len(b) > 0 && b[0] == '"' {
		return strconv.Quote(string(b))
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if (r == utf8.RuneError && size <= 1) || !unicode.IsPrint(r) {
			return strconv.Quote(string(b))
		}
		i += size
	}
	return string(b)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
