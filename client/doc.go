// Package client is the Go client of caskade: a typed API over the gRPC
// services of api/v1 (DESIGN.md §7, §9).
//
//	c, err := client.Dial(ctx, []string{"127.0.0.1:7070"}, client.WithInsecure())
//	defer c.Close()
//	off, err := c.Put(ctx, []byte("user/1"), []byte("alice"), client.WithTTL(time.Hour))
//	it, err := c.Get(ctx, []byte("user/1"))              // it.Value, it.Offset
//	_, err = c.CompareAndSwap(ctx, []byte("user/1"), it.Offset, []byte("bob"))
//	if errors.Is(err, client.ErrCASMismatch) { ... }     // someone else won
//
//	cons := client.NewConsumer(c, 0, &client.ConsumerOptions{Follow: true})
//	for {
//		rec, err := cons.Next(ctx) // resumes after reconnects, no duplicates
//		...
//	}
//
// # Errors
//
// Errors from the server keep their meaning across the wire:
// errors.Is(err, ErrNotFound), ErrCASMismatch, ErrOutOfRange,
// ErrInvalidArgument (and the narrower ErrEmptyKey, ErrKeyTooLarge,
// ErrValueTooLarge, ErrBadRange), ErrUnavailable and the others in
// errors.go. errors.As gives a *CASError (the key's current offset), an
// *OffsetError (the log's earliest and next offsets) or an *Error (the
// gRPC code, the ErrorInfo reason and metadata, and the BadRequest field
// violations). A cancelled or expired context gives an error matching
// context.Canceled or context.DeadlineExceeded. A call the server's
// authorization policy refuses matches ErrPermissionDenied (errors.As
// gives a *PermissionError naming the identity, action and object), or
// ErrUnauthenticated when the policy does not know the caller.
//
// # Security
//
// A server run with mutual TLS wants the client's certificate, whose
// common name is the caller's identity:
//
//	c, err := client.Dial(ctx, endpoints, client.WithTLS("client-root.pem", "client-root-key.pem", "ca.pem"))
//
// Each server's certificate is verified for the host of its endpoint;
// WithTLSConfig with a tls.Config whose ServerName is set (LoadTLSConfig
// makes one from the files) verifies every server against that one name.
// A certificate the server does not trust, or a server certificate the
// client does not, fails the call with ErrUnavailable and the TLS error.
//
// # Concurrency
//
// A Client is safe for concurrent use and multiplexes every call over its
// connections; share one. A Consumer is used by one goroutine. A Producer
// takes Send from one goroutine and Recv from another, so batches can be
// pipelined.
//
// # Connections
//
// With several endpoints (or WithDiscovery(true)) the Client asks any
// node for GetServers, connects to every server and marks the leader; it
// asks again every WithRefreshInterval (5s), and at once when a node
// fails, answers NOT_LEADER, or the leader is lost. Writes and
// LINEARIZABLE reads go to the leader; STALE reads and consumption go to
// the followers in turn (to the leader when there are none). routes.go
// declares which RPC is a write. With one endpoint and no WithDiscovery,
// the Client talks to that node only.
//
// Reads are sent again, to another node, when a node fails under them. A
// write is sent at most once: a NOT_LEADER answer (nothing written) is
// retried once on the new leader, but a write sent to a node that failed
// before answering returns an error matching ErrWriteUnknown: it may have
// been applied. Calls fail fast with ErrUnavailable while no server can
// be reached; a call waits at most WithFailoverTimeout (5s) for a new
// leader. Each unary call is bounded by the Client's timeout
// (WithTimeout) and by its context; streams by their context only.
//
// A node that stops or crashes closes its connections, which fails the
// calls on them at once. One that vanishes without closing them (power,
// network) is noticed by silence: a caskade server pings every quiet
// connection each second (rpc.KeepaliveInterval), and the Client closes a
// connection on which nothing arrived for 1.5s, failing its calls with
// UNAVAILABLE within that time (dial.go).
package client
