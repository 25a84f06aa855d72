package rpc

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// MetricsNamespace prefixes the name of every metric Metrics collects.
const MetricsNamespace = "caskade"

// latencyBuckets are the bounds, in seconds, of the call latency
// histogram: from 100 µs (a local Get) to 10 s (a write waiting for a
// leader election, or a long stream), about 2.5× apart.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics counts the calls of a server for Prometheus, with
// go-grpc-middleware's provider: calls started and handled (by service,
// method and code), stream messages received and sent, and a latency
// histogram by method:
//
//	caskade_grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//	caskade_grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//	caskade_grpc_server_msg_received_total{grpc_type,grpc_service,grpc_method}
//	caskade_grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}
//	caskade_grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}
//
// A series appears at the first call of its method (and code). A Metrics
// is a prometheus.Collector: register it where it is scraped, and give it
// to the server as Options.Metrics. It serves HTTP to nobody itself. Safe
// for concurrent use.
type Metrics struct {
	server *grpcprom.ServerMetrics
}

// NewMetrics returns an empty Metrics.
func NewMetrics() *Metrics {
	return &Metrics{server: grpcprom.NewServerMetrics(
		grpcprom.WithServerCounterOptions(grpcprom.WithNamespace(MetricsNamespace)),
		grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramNamespace(MetricsNamespace),
			grpcprom.WithHistogramBuckets(latencyBuckets),
		),
	)}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { m.server.Describe(ch) }

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) { m.server.Collect(ch) }

// unary returns the interceptor that counts unary calls.
func (m *Metrics) unary() grpc.UnaryServerInterceptor { return m.server.UnaryServerInterceptor() }

// stream returns the interceptor that counts streams and their messages.
func (m *Metrics) stream() grpc.StreamServerInterceptor { return m.server.StreamServerInterceptor() }
