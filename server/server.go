// Package server is Sealine's embeddable server: Config, New, Run and the
// Connect API handlers (api/sealine/v1).
//
// One HTTPS listener serves the Connect, gRPC and gRPC-Web protocols over
// HTTP/2 (and HTTP/1.1 for Connect unary calls) with TLS 1.3 only; there is
// no plaintext API listener. GET /healthz answers 200 when the store pings.
// Optional Prometheus metrics are served on a separate loopback-only address.
//
// What each part protects:
//   - Passwords are Argon2id hashes (internal/password); hashing runs behind a
//     per-IP token bucket and a bound on concurrent hashes, and unknown users
//     cost the same hash as known ones.
//   - Usernames, display names and device names are sealed under a per-user
//     data key (internal/pii); users are found by a keyed blind index of the
//     normalised username (internal/username). The store never sees them in
//     plaintext, and they never reach a log line or an error message.
//   - Optional phone numbers and emails are sealed the same way, with their
//     own blind indexes. A withdrawal (DeleteAccount) destroys the user's
//     data key first, in a key store kept apart from the data, so backups
//     of the data are unreadable for that user too; then it deletes every
//     row of the account. A retention purge job deletes each kind of data
//     after its period (RetentionTable); Admin runs purges, backups,
//     restores and online KEK rotation beside a serving node.
//   - Session tokens are 256 random bits; the store keeps only their SHA-256.
//     Every authenticated call re-reads the session from the store, so a
//     revocation is effective at once on every node. Open streams are woken
//     by a Notifier hint and re-check the store.
//
// Every error is a *connect.Error carrying a sealinev1.ErrorDetail with a
// stable reason (see the Reason constants). Undecodable requests get
// message_invalid and requests over 64 KiB message_too_large (see codec.go);
// only a unary request over 256 KiB is refused by connect-go itself, with
// resource_exhausted and no detail.
package server

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sealine/sealine/internal/password"
	"github.com/sealine/sealine/store"
)

// Server is a running Sealine server; create it with New, serve with Run.
type Server struct {
	cfg      Config
	log      *slog.Logger
	nodeID   string
	store    store.Store
	keys     *kekRing
	hasher   *password.Hasher
	limiter  *limiter
	touches  *touches
	metrics  *metrics
	certPEM  []byte
	certFP   string
	ln       net.Listener
	http     *http.Server
	metricLn net.Listener
	metricSv *http.Server

	msg *messaging // key packages, conversations, queues, blobs
	lc  *lifecycle // retention and withdrawal

	stopping chan struct{} // closed when shutdown begins: streams end
	stopOnce sync.Once
}

// New prepares a server: it opens and migrates the store, creates the data
// dir (0700), the KEK and the self-signed certificate when needed, and
// starts listening. Serve with Run, or release everything with Close.
//
// Bad input changes nothing: a given certificate is read and a PostgreSQL
// store is opened before anything is written to the data dir, so a bad or
// unreachable database leaves no certificate or key behind. (SQLite lives
// in the data dir, which is created just before it is opened.)
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	given, err := loadGivenCert(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.storeInDataDir() {
		if err := mkdirData(cfg); err != nil {
			return nil, err
		}
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := setUp(ctx, cfg, st, given)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return s, nil
}

// setUp creates what New keeps in the data dir (the certificate and the
// KEK) around an opened store, and wires the server.
func setUp(ctx context.Context, cfg Config, st store.Store, given *servingCert) (*Server, error) {
	if err := mkdirData(cfg); err != nil {
		return nil, err
	}
	c := given
	if c == nil {
		var err error
		if c, err = loadSelfSigned(cfg); err != nil {
			return nil, err
		}
	}
	keys, err := newKEKRing(ctx, cfg, st.Keys())
	if err != nil {
		return nil, err
	}
	return newServer(cfg, st, keys, c.cert, c.pem)
}

// newServer wires the parts and opens the listeners.
func newServer(cfg Config, st store.Store, keys *kekRing, cert tls.Certificate, certPEM []byte) (*Server, error) {
	nodeID, err := newNodeID(cfg)
	if err != nil {
		return nil, err
	}
	m := newMetrics(nodeID)
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("node", nodeID),
		nodeID: nodeID,
		store:  st,
		keys:   keys,
		hasher: password.New(password.Config{
			Params: cfg.PasswordParams, MaxConcurrent: cfg.MaxConcurrentHashes, Rand: cfg.Rand, Observe: m.hashed,
		}),
		limiter:  newLimiter(cfg.LoginBurst, cfg.LoginInterval),
		touches:  newTouches(),
		metrics:  m,
		certPEM:  certPEM,
		certFP:   fingerprint(cert),
		stopping: make(chan struct{}),
	}
	if err := s.startMessaging(); err != nil {
		return nil, err
	}
	s.startLifecycle()
	if err := s.listen(cert); err != nil {
		s.stopMessaging()
		return nil, err
	}
	return s, nil
}

func newNodeID(cfg Config) (string, error) {
	if cfg.NodeID != "" {
		return cfg.NodeID, nil
	}
	b := make([]byte, 6)
	if _, err := io.ReadFull(cfg.Rand, b); err != nil {
		return "", fmt.Errorf("server: node id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// listen opens the HTTPS listener and, if configured, the metrics listener.
func (s *Server) listen(cert tls.Certificate) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	s.ln = ln
	s.http = s.newHTTPServer(cert)
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return errors.Join(fmt.Errorf("server: listen for metrics: %w", err), ln.Close())
	}
	s.metricLn, s.metricSv = mln, s.metrics.server()
	return nil
}

// newHTTPServer builds the TLS 1.3, HTTP/2 server with the API routes.
func (s *Server) newHTTPServer(cert tls.Certificate) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true) // Connect unary calls from simple clients
	protocols.SetHTTP2(true)
	return &http.Server{
		Handler:           s.routes(),
		Protocols:         protocols,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 250},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
		},
	}
}

// Run serves until ctx is done, then shuts down gracefully: it stops
// accepting, ends open streams, waits for calls in flight (at most
// Config.ShutdownTimeout) and closes the store.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.http.ServeTLS(s.ln, "", "") }()
	if s.metricSv != nil {
		go func() { errc <- s.metricSv.Serve(s.metricLn) }()
	}
	go s.purgeLoop(ctx)
	s.log.Info("serving", "url", s.URL(), "db", s.store.Kind(), "cert", s.certFP, "version", s.cfg.Version)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.shutdown())
}

// Close releases a server that is not running (Run does this itself).
func (s *Server) Close() error { return s.shutdown() }

func (s *Server) shutdown() error {
	var err error
	s.stopOnce.Do(func() {
		close(s.stopping)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		err = s.http.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = s.http.Close()
		}
		if s.metricSv != nil {
			err = errors.Join(err, s.metricSv.Shutdown(ctx), closeListener(s.metricLn))
		}
		// Serve closes its listener, but Close without Run must do it.
		err = errors.Join(err, closeListener(s.ln), s.store.Close())
		s.log.Info("stopped")
	})
	return err
}

func closeListener(ln net.Listener) error {
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// URL is the API's base URL, e.g. https://127.0.0.1:8443.
func (s *Server) URL() string { return "https://" + s.ln.Addr().String() }

// MetricsURL is the metrics endpoint, or "" when metrics are off.
func (s *Server) MetricsURL() string {
	if s.metricLn == nil {
		return ""
	}
	return "http://" + s.metricLn.Addr().String() + "/metrics"
}

// StartLine is one line for the operator: URL, data dir, store kind and the
// certificate's SHA-256 fingerprint.
func (s *Server) StartLine() string {
	return fmt.Sprintf("sealine %s listening on %s data=%s db=%s cert=%s",
		or(s.cfg.Version, "dev"), s.URL(), s.cfg.DataDir, s.store.Kind(), s.certFP)
}

// CertPEM is the serving certificate, for clients to trust.
func (s *Server) CertPEM() []byte { return append([]byte(nil), s.certPEM...) }

// Store is the server's store, for tests and tools in the same process.
func (s *Server) Store() store.Store { return s.store }

func (s *Server) now() time.Time { return s.cfg.Now() }

// healthz answers 200 when the store pings.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}
