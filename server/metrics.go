package server

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in their own registry (never
// the global one), labelled with the node id.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	logins   *prometheus.CounterVec
	lockouts prometheus.Counter
	hashes   prometheus.Histogram
}

func newMetrics(nodeID string) *metrics {
	node := prometheus.Labels{"node": nodeID}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealine_rpc_requests_total", Help: "RPCs by procedure and Connect code.", ConstLabels: node,
		}, []string{"procedure", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealine_rpc_duration_seconds", Help: "RPC latency by procedure.", ConstLabels: node,
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"procedure"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealine_rpc_errors_total", Help: "RPC errors by reason.", ConstLabels: node,
		}, []string{"reason"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealine_logins_total", Help: "Login attempts by result.", ConstLabels: node,
		}, []string{"result"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sealine_lockouts_total", Help: "Accounts locked after repeated failed logins.", ConstLabels: node,
		}),
	}
	m.hashes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sealine_password_hash_seconds", Help: "Argon2id runs (hash, verify, or the equal-cost run for unknown users).", ConstLabels: node,
		Buckets: []float64{.001, .01, .025, .05, .075, .1, .15, .25, .5, 1},
	})
	m.reg.MustRegister(m.requests, m.latency, m.errors, m.logins, m.lockouts, m.hashes)
	// Process CPU, RSS and open files, Go heap and goroutines, for capacity
	// planning (`sealine bench` reads them). Named sealine_* like the rest.
	m.reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "sealine"}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sealine_heap_inuse_bytes", Help: "Bytes in in-use heap spans (runtime.MemStats.HeapInuse).", ConstLabels: node,
		}, heapInuse),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sealine_goroutines", Help: "Goroutines that currently exist.", ConstLabels: node,
		}, func() float64 { return float64(runtime.NumGoroutine()) }))
	return m
}

func heapInuse() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse)
}

// observe counts one finished RPC. Streams count once, when they end.
func (m *metrics) observe(procedure, code, reason string, d time.Duration) {
	m.requests.WithLabelValues(procedure, code).Inc()
	m.latency.WithLabelValues(procedure).Observe(d.Seconds())
	if reason != "" {
		m.errors.WithLabelValues(reason).Inc()
	}
}

// login counts a login attempt: "ok" or the error reason.
func (m *metrics) login(result string) { m.logins.WithLabelValues(result).Inc() }

// hashed records one Argon2id run.
func (m *metrics) hashed(d time.Duration) { m.hashes.Observe(d.Seconds()) }

// server serves /metrics.
func (m *metrics) server() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}
