package rpc

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// Store is what the server needs of a store. *engine.DB satisfies it; its
// doc comments give the contracts (offsets, durability, errors).
type Store interface {
	Put(key, value []byte) (uint64, error)
	PutWithExpiry(key, value []byte, expiry time.Time) (uint64, error)
	Get(key []byte) (engine.Item, error)
	Delete(key []byte) (uint64, error)
	CompareAndSwap(key []byte, expected uint64, value []byte) (uint64, error)
	Scan(o engine.ScanOptions) (engine.ScanResult, error)
	Produce(value []byte) (uint64, error)
	ProduceBatch(values [][]byte) (uint64, error)
	// ReadFrom returns up to max records at or after offset and the
	// high-water mark, or an *engine.OffsetError.
	ReadFrom(offset uint64, max int) ([]engine.Record, uint64, error)
	// ReadFromBytes is ReadFrom stopping once maxBytes of records are
	// collected (at least one record is returned if any exists).
	ReadFromBytes(offset uint64, max int, maxBytes int64) ([]engine.Record, uint64, error)
	// Wait returns once NextOffset() > offset, or with ctx's error, or
	// engine.ErrClosed.
	Wait(ctx context.Context, offset uint64) error
	NextOffset() uint64
	Stats() engine.Stats
}

// Defaults of Options.
const (
	// DefaultAddr is where `caskade serve` listens by default.
	DefaultAddr = "127.0.0.1:7070"
	// DefaultScanLimit is the page size of a Scan that sets no limit.
	DefaultScanLimit = 1000
	// MaxScanLimit caps the page size of a Scan.
	MaxScanLimit = 10000
	// DefaultConsumeBatch is the batch size of a ConsumeStream that sets
	// no max_batch.
	DefaultConsumeBatch = 256
	// MaxConsumeBatch caps the batch size of a ConsumeStream.
	MaxConsumeBatch = 4096
	// KeepaliveMinTime is the shortest client keepalive ping interval the
	// server accepts; clients pinging more often are disconnected. It is
	// short so that clients may check a quiet connection every second.
	KeepaliveMinTime = time.Second
	// KeepaliveInterval is how long a connection may stay silent (nothing
	// read from the client) before the server pings it. The ping is also
	// a heartbeat: a live server sends something on every connection at
	// least this often, and the client (client.readIdleTimeout) closes a
	// connection on which nothing arrived for a little longer, which is
	// how a call to a node that vanished fails in under 2 seconds. gRPC
	// allows no shorter server interval.
	KeepaliveInterval = time.Second
	// KeepaliveTimeout is how long the server waits for the answer to its
	// ping before it drops the connection (a client that is gone).
	KeepaliveTimeout = 10 * time.Second
)

// streamWorkers is how many goroutines the gRPC server keeps to run
// calls. A call handed to an idle worker runs on a stack that has already
// grown, instead of a new goroutine growing one (copying its stack) on
// every call: about a tenth of a Get's CPU time. Calls beyond the idle
// workers get a goroutine of their own, as without workers.
const streamWorkers = 128

// messageOverhead is room for the non-payload part of a message (field
// tags, offsets, an Item's other fields) beyond one key and one value.
const messageOverhead = 64 << 10

// Options configure a Server. The zero value gives the defaults.
type Options struct {
	// Addr is the RPC address clients reach this node at (host:port), as
	// GetServers and Status report it.
	Addr string
	// NodeID names this node; "" means Addr.
	NodeID string
	// MaxKeySize is the largest key accepted; 0 means
	// engine.DefaultMaxKeySize. Set it to the store's limit.
	MaxKeySize int
	// MaxValueSize is the largest value accepted; 0 means
	// engine.DefaultMaxValueSize. Set it to the store's limit: gRPC message
	// size limits follow from it.
	MaxValueSize int
	// Version is reported by Status; "" means "dev".
	Version string
	// Logger receives internal errors (with their full text) and, at debug
	// level, one line per call; nil discards.
	Logger *slog.Logger
	// TLS, when set, makes ServerOptions serve over TLS with it; for
	// mutual TLS it requires and verifies client certificates
	// (certs.ServerTLSConfig makes such a config). nil serves plaintext.
	TLS *tls.Config
	// Authorizer, when set, makes ServerOptions authorize every call with
	// it, as the identity of the call's verified client certificate (so it
	// needs TLS with client certificates: without, every call is refused
	// as unauthenticated). nil allows every call: the plaintext mode.
	Authorizer *Authorizer
	// Metrics, when set, makes ServerOptions count every call in it
	// (first in the interceptor chain, so calls the Authorizer refuses
	// count too, with their codes). nil counts nothing.
	Metrics *Metrics
}

func (o Options) withDefaults() Options {
	if o.NodeID == "" {
		o.NodeID = o.Addr
	}
	if o.MaxKeySize <= 0 {
		o.MaxKeySize = engine.DefaultMaxKeySize
	}
	if o.MaxValueSize <= 0 {
		o.MaxValueSize = engine.DefaultMaxValueSize
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// maxMessageBytes is the largest gRPC message either side may send: one
// key, one value and room for the rest, and never less than gRPC's
// default of 4 MiB.
func (o Options) maxMessageBytes() int {
	return max(o.MaxKeySize+o.MaxValueSize+messageOverhead, 4<<20)
}

// ServerOptions returns the grpc.ServerOptions a caskade server runs with:
// message size limits matched to MaxValueSize, keepalive (pings a
// connection after KeepaliveInterval of silence, drops it when the ping
// is not answered within KeepaliveTimeout, accepts client pings every
// KeepaliveMinTime or less often, with or without calls), interceptors that log each call at debug level and, with
// Options.Authorizer, authorize it; with Options.Metrics, one that counts
// it; and TLS with Options.TLS.
func ServerOptions(o Options) []grpc.ServerOption {
	o = o.withDefaults()
	maxMsg := o.maxMessageBytes()
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if o.Metrics != nil {
		unary = append(unary, o.Metrics.unary())
		stream = append(stream, o.Metrics.stream())
	}
	unary = append(unary, unaryLogger(o.Logger))
	stream = append(stream, streamLogger(o.Logger))
	if o.Authorizer != nil {
		// After the logger, so refused calls are logged too.
		unary = append(unary, authUnary(o.Authorizer, o.Logger))
		stream = append(stream, authStream(o.Authorizer, o.Logger))
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.MaxSendMsgSize(maxMsg),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    KeepaliveInterval,
			Timeout: KeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	return opts
}

// Server holds the gRPC services of one store. Safe for concurrent use.
type Server struct {
	store Store
	maint maintenance // the optional parts of store
	opts  Options     // immutable after NewServer
	// maxMsg is the send limit that pages and batches are kept under.
	maxMsg int
	health *health.Server

	// done is closed by Close: follow streams end, new ones are refused.
	done      chan struct{}
	closeOnce sync.Once
}

// NewServer returns a server for store. It does not listen: register it
// on a grpc.Server (made with ServerOptions(opts)) with Register.
func NewServer(store Store, opts Options) *Server {
	o := opts.withDefaults()
	s := &Server{
		store:  store,
		maint:  maintenanceOf(store),
		opts:   o,
		maxMsg: o.maxMessageBytes(),
		health: health.NewServer(),
		done:   make(chan struct{}),
	}
	for _, name := range []string{"",
		caskadev1.KV_ServiceDesc.ServiceName,
		caskadev1.Log_ServiceDesc.ServiceName,
		caskadev1.Cluster_ServiceDesc.ServiceName,
		caskadev1.Maintenance_ServiceDesc.ServiceName,
	} {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	return s
}

// Register registers the KV, Log, Cluster and Maintenance services, the
// gRPC health service and server reflection on gs. Call it before
// gs.Serve.
func (s *Server) Register(gs *grpc.Server) {
	caskadev1.RegisterKVServer(gs, &kvServer{s: s})
	caskadev1.RegisterLogServer(gs, &logServer{s: s})
	caskadev1.RegisterClusterServer(gs, &clusterServer{s: s})
	caskadev1.RegisterMaintenanceServer(gs, &maintenanceServer{s: s})
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
}

// Close ends every follow stream (with UNAVAILABLE, reason STORE_CLOSED),
// refuses new ones, and sets the health service to NOT_SERVING. Unary
// calls and other streams go on: call Close before grpc.Server's
// GracefulStop, which waits for them, and close the store after that.
// Calling Close more than once is harmless.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.health.Shutdown()
	})
}

// closing reports whether Close has been called.
func (s *Server) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// streamContext returns a context that ends with ctx, or when the server
// closes (then its cause is engine.ErrClosed), whichever comes first. The
// caller owns the goroutine it starts and must call stop when the stream
// ends.
func (s *Server) streamContext(ctx context.Context) (c context.Context, stop func()) {
	c, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.done:
			cancel(engine.ErrClosed)
		case <-c.Done():
		}
	}()
	return c, func() { cancel(context.Canceled) }
}
