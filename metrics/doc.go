// Package metrics exposes a caskade node to Prometheus and to health
// probes: collectors for the store (Engine), Raft (Raft), Serf (Members)
// and hashicorp's own go-metrics (Hashicorp), a Registry to gather them,
// and an HTTP handler serving /metrics, /livez and /readyz on a listener
// of its own (Listen).
//
// Every metric is named caskade_*, except the standard go_* and
// process_* of the Go runtime. The collectors read what they report when
// Prometheus scrapes (engine.DB.Stats, replication.Node.Stats,
// Membership.Members), so the packages they observe know nothing of
// Prometheus. The hot paths carry two hooks only: engine.Options.OnSync
// (the fsync latency histogram; a nil check when unused) and raft's
// observer filter (leader changes). gRPC calls are counted by rpc.Metrics,
// which rpc.ServerOptions wires into the server's interceptors.
//
// Imports point down (DESIGN.md §1): metrics imports engine and
// replication; agent and cmd/caskade import metrics; engine, replication
// and rpc never import it.
//
// # Endpoints
//
//	/metrics  Prometheus text exposition of a Registry
//	/livez    200 "ok" while the process serves HTTP at all
//	/readyz   200 "ok" when the readiness function returns nil, else 503
//	          with its error as a one-line plain-text reason
//
// The endpoints have a listener of their own rather than a share of the
// node's port through cmux: with TLS on, cmux sees only ciphertext there
// and hands everything that is not Raft to gRPC, so HTTP on that port
// would need a client certificate, which kubelet probes and most
// Prometheus setups do not present. They expose counts and timings only,
// never keys or values.
//
// Readiness is the caller's: a single node is ready while its store is
// open and gRPC is serving; a cluster node when it knows a leader and has
// applied the entries it knows committed, within ReadyMaxLag (CaughtUp).
//
// Everything here is safe for concurrent use.
package metrics
