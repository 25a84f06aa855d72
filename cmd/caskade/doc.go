// Command caskade is the one binary of caskade, a Bitcask-style key-value
// store whose storage is an ordered commit log.
//
// "caskade serve" runs a server. The client commands talk to one:
//
//	caskade put KEY [VALUE] [--ttl DURATION]
//	caskade get KEY [--stale]
//	caskade del KEY
//	caskade cas KEY EXPECTED_OFFSET [VALUE]
//	caskade scan [--prefix P] [--start S] [--end E] [--limit N] [--keys-only]
//	caskade produce [VALUE...]
//	caskade consume [--from OFFSET] [--follow] [--limit N] [--prefix P]
//	caskade status
//	caskade compact
//	caskade snapshot save FILE
//	caskade snapshot verify FILE                 (offline: no server)
//	caskade snapshot restore FILE --data-dir DIR (offline: no server)
//	caskade bench put|get|mixed|produce|consume (--total N | --duration D) [--clients N] [--chart FILE]
//
// They share --endpoints (host:port,...; default 127.0.0.1:7070),
// --timeout (per request) and -o/--output (text or json), also read from
// CASKADE_ENDPOINTS, CASKADE_TIMEOUT and CASKADE_OUTPUT; and, for a server
// with mutual TLS, --cert, --key, --ca and --server-name (CASKADE_CERT,
// CASKADE_KEY, CASKADE_CA, CASKADE_SERVER_NAME).
//
// "caskade certs" makes the certificates of mutual TLS with the cfssl
// library; "caskade serve --tls-cert --tls-key --tls-ca" requires them and
// authorizes every call with a Casbin policy (--auth-model,
// --auth-policy; SIGHUP reloads it):
//
//	caskade certs init [--dir DIR] [--hosts H1,H2] [--clients NAME,...] [--force]
//	caskade certs new --cn NAME [--dir DIR] [--force]
//
// The "local" command group works on a store in a local directory without
// a server (as etcdutl does next to etcdctl):
//
//	caskade local put KEY [VALUE] [--ttl DURATION]
//	caskade local get KEY [--json]
//	caskade local del KEY
//	caskade local cas KEY EXPECTED_OFFSET [VALUE]
//	caskade local scan [--prefix P] [--start S] [--end E] [--limit N] [--keys-only] [--json]
//	caskade local produce [VALUE...]
//	caskade local consume [--from OFFSET] [--max N] [--json]
//	caskade local stats [--json]
//	caskade local restore FILE [--json]
//	caskade local demo [--keys N]
//
// The global flags of "local" (--data-dir, --sync, --segment-bytes,
// --max-key-size, --max-value-size) are also read from the environment as
// CASKADE_DATA_DIR, CASKADE_SYNC, and so on; a flag on the command line wins.
//
// Exit codes: 0 success; 1 a definite "no" (key not found, compare-and-swap
// mismatch, offset out of range); 2 bad flags, arguments or environment
// (nothing was written); 3 the store or the server failed (I/O, corrupt
// data, store in use, server unreachable, a demo check failed); 130
// interrupted.
package main
