// Package caskadev1 is the caskade gRPC API, version 1: the messages and
// service stubs generated from caskade.proto (regenerate with `make
// proto`; never edit the *.pb.go files by hand), plus the stable error
// reasons and metadata keys both server and client agree on (reasons.go).
//
// Services: KV (Put, Get, Delete, Scan, CompareAndSwap), Log (Produce,
// Consume, ConsumeStream, ProduceStream), Cluster (GetServers, Status) and
// Maintenance (Compact, Snapshot). caskade.proto documents each call and
// the error details it may carry.
package caskadev1
