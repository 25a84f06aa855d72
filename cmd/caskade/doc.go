// Command caskade is the one binary of caskade, a Bitcask-style key-value
// store whose storage is an ordered commit log.
//
// Until the server lands, the binary works on a store in a local directory
// through the "local" command group (as etcdutl does next to etcdctl), so
// that the client commands of the server keep their plain names later:
//
//	caskade local put KEY [VALUE] [--ttl DURATION]
//	caskade local get KEY [--json]
//	caskade local del KEY
//	caskade local cas KEY EXPECTED_OFFSET [VALUE]
//	caskade local scan [--prefix P] [--start S] [--end E] [--limit N] [--keys-only] [--json]
//	caskade local produce [VALUE...]
//	caskade local consume [--from OFFSET] [--max N] [--json]
//	caskade local stats [--json]
//	caskade local demo [--keys N]
//
// The global flags of "local" (--data-dir, --sync, --segment-bytes,
// --max-key-size, --max-value-size) are also read from the environment as
// CASKADE_DATA_DIR, CASKADE_SYNC, and so on; a flag on the command line wins.
//
// Exit codes: 0 success; 1 a definite "no" (key not found, compare-and-swap
// mismatch, offset out of range); 2 bad flags, arguments or environment
// (nothing was written); 3 the store failed (I/O, corrupt data, store in
// use, a demo check failed); 130 interrupted.
package main
