// Package robustness checks caskade the way etcd's robustness tests and
// Jepsen check stores: real `caskade serve` processes on loopback,
// concurrent clients, faults injected while they run, and the recorded
// history checked for linearizability and durability (package check).
//
// # A run
//
// Run starts a 3-node cluster speaking mutual TLS, each node a process of
// the caskade binary built with the failpoints tag (CASKADE_FAILPOINTS
// arms a crash point, CASKADE_BUGS turns on a deliberate bug; both are
// passed through the node's environment). Clients (Config.Clients) issue
// put, get, delete, compare-and-swap and consume over a few keys with
// unique values, mixing LINEARIZABLE and STALE reads; half of them use the
// cluster-aware client (caskade:///a,b,c), the others are pinned to one
// node, so reads reach followers directly and writes to a follower are
// forwarded. Every call is recorded (package history). A write whose
// outcome is unknown is recorded as Ambiguous and its client goes on as a
// new process (the porcupine / Jepsen convention).
//
// Meanwhile faults, drawn from a seeded generator, hit the cluster one at
// a time: kill -9 and restart of a random node or of the leader;
// SIGSTOP / SIGCONT; isolation of a node (from everyone, or from its
// peers only, with connections closed or silently dropped); a restart of
// the whole cluster; a member removed and added back (its directory kept
// or wiped); a restart with a failpoint armed, which crashes the node at
// a point kill -9 cannot aim at.
//
// After the traffic the cluster is healed and left to settle (every node
// at the same applied index), and:
//
//   - check.History checks the history (porcupine for the linearizable
//     operations, stale reads on their own terms);
//   - every node's log, consumed from offset 0, goes to check.Final: every
//     acknowledged write present (or superseded) on every node, and the
//     same records at the same offsets everywhere;
//   - every node restarts cleanly: all stopped with SIGTERM, all started
//     again, and the cluster serves a linearizable read.
//
// Each run prints one line (seed, duration, operations, faults,
// violations, lost acknowledged writes); a batch prints a table. A run's
// folder (Config.ResultsDir) holds the nodes' logs and, on a violation,
// porcupine's visualization and the history.
//
// # Isolation on loopback
//
// Node i listens on its own loopback address, 127.0.0.(11+i), and
// advertises the address of a TCP proxy (Proxy) in front of it, so every
// connection to a node, from clients and from its peers, goes through that
// node's proxy. A node listening on one IP dials its peers from that IP
// (replication.SourceAddr), so a proxy knows which node a connection comes
// from. Isolating node i: its proxy refuses and cuts its connections (all
// of them, or only those from the other nodes), and every other proxy
// refuses and cuts those whose source is node i. Serf gossip (UDP and
// TCP on each node's --serf-addr) is not proxied: an isolated node still
// looks alive to membership, as it would behind a partition that only
// cuts the data port. The suite needs Linux, where all of 127.0.0.0/8 is
// local.
//
// # Running it
//
// The tests carry the robustness build tag, so `go test ./...` does not
// run them (the proxy's tests, untagged, do):
//
//	make robustness SEEDS=20 DURATION=60s CLIENTS=8
//	make robustness-smoke
//	go test -tags robustness ./tests/robustness/ -run TestRobustness -args -seeds 3 -duration 30s
//
// Nothing here is safe for use by more than one goroutine unless its doc
// comment says so.
package robustness
