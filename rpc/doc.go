// Package rpc serves a caskade store over gRPC: the KV, Log, Cluster and
// Maintenance services of api/v1, the standard health service and server
// reflection.
//
// The server reaches the store only through the small interfaces this
// package declares (Store, and the optional Maintainer), so that a
// replicated store can stand behind the same services later and tests can
// use a fake. Only status.go knows gRPC codes: handlers return plain
// errors (engine errors, or a *fieldError for a request refused before it
// reached the store) and status.go maps them, in one ordered list, to codes
// with google.rpc error details (BadRequest, ErrorInfo with the reasons of
// api/v1/reasons.go). Errors it does not know become Internal with a
// generic message; the real error goes to the server's log only, so file
// paths never reach a client.
//
// Every request is validated against Options.MaxKeySize and MaxValueSize
// before it touches the store, so nothing is written for a refused
// request.
//
// # Security
//
// With Options.TLS the server speaks TLS; certs.ServerTLSConfig makes a
// mutual-TLS configuration that requires and verifies a client
// certificate on every connection, so a caller without one, or with one
// from another CA or expired, never gets a call through.
//
// With Options.Authorizer every call is authorized before its handler
// runs (so a refused call reads and writes nothing). The caller's
// identity is the common name of its verified client certificate; Casbin
// decides whether (identity, object, action) is allowed, with the model
// and policy files the operator supplies (DefaultModel and DefaultPolicy
// when none are given). methodAccess (access.go) is the one table that
// maps each RPC to its action (read, write or admin) and object: kv:KEY
// for a key, kv:PREFIX* for a Scan (the longest prefix every key of its
// range shares; see scanPrefix), log, or cluster. Health and reflection
// need a certificate but no rule. A call without a verified identity, or
// from an identity the policy does not name, is refused as
// UNAUTHENTICATED; a named identity the policy does not allow gets
// PERMISSION_DENIED naming the action and the object. Authorizer.Reload
// (Server.Reload; `caskade serve` calls it on SIGHUP) swaps in a new
// policy atomically; a policy that does not load leaves the old one.
//
// Without an Authorizer every call is allowed: that is the plaintext mode
// (`caskade serve` on loopback or with --insecure), where no identity
// exists to go by.
//
// # Streams
//
// ConsumeStream with follow waits for appends with Store.Wait (it wakes on
// append; it never polls) and ends when the client cancels or the Server
// is closed. ProduceStream reads requests on a goroutine of its own, so
// that requests a client pipelines are appended together as one batch
// (one ProduceBatch, one shared fsync) and still answered one by one in
// order.
//
// # Shutdown
//
// Close first (it ends follow streams and marks the health service
// NOT_SERVING), then grpc.Server.GracefulStop (bounded by a timeout, then
// Stop), then close the store: its Close syncs, so no acknowledged write
// is lost.
//
// A Server is safe for concurrent use.
package rpc
