// Package bench is the load generator behind `caskade bench`: it drives a
// running node or cluster through the client API with a bounded pool of
// workers, records every operation's latency in HDR histograms, and turns
// them into a Report (text or JSON) and a chart (PNG or SVG).
//
//	c, _ := client.Dial(ctx, endpoints, client.WithInsecure())
//	rep, err := bench.Run(ctx, c, bench.Options{Workload: bench.Put, Total: 10000})
//	rep.WriteText(os.Stdout)
//	bench.WriteChart("put.svg", rep)
//
// # Workloads
//
//   - put: Put of a random key of the key space (Keys keys of KeySize
//     bytes: "bench-" and a zero-padded number) with a ValueSize value.
//   - get: Get of a random key of the key space, at the read Consistency.
//     With Populate, every key is written once first (not measured).
//   - mixed: Get with probability ReadRatio, else Put; populated like get.
//   - produce: Produce of a ValueSize keyless record.
//   - consume: Consume of one record by offset, walking the records the
//     log held when the run began in offset order (wrapping at the end).
//     With Populate, an empty log first gets Records keyless records.
//
// # Counting
//
// Each operation is counted once, when it completes: as a success or as an
// error of one kind (ErrorKind). With Total the run claims exactly Total
// operations, so OK + Errors == Total unless the run was interrupted
// (its context ended: operations cut short are counted as Abandoned, not
// as errors) or stopped by a fatal error (the server refused the requests
// themselves, say a value over its limit; Run returns it). With Duration
// no operation starts after the time is up, and those in flight finish.
// Latency histograms hold successful operations only.
//
// # Concurrency
//
// Run starts Clients workers and a progress goroutine and waits for all
// of them before it returns. The Target is called from every worker at
// once, so it must be safe for concurrent use (*client.Client is). A
// Report is plain data, safe to read from any goroutine once Run returned.
package bench
