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
// Dial resolves the endpoints once (caskade:///h1,h2,...) and spreads
// calls over them (pick_first for one endpoint, round_robin for more);
// dial.go is the one place that decides this. Calls fail fast with
// ErrUnavailable while no server can be reached; the connection is retried
// in the background with a backoff capped at 5s. Each unary call is
// bounded by the Client's timeout (WithTimeout) and by its context;
// streams by their context only.
package client
