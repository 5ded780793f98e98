package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/password"
	"github.com/sealine/sealine/server"
)

// checkTarget refuses a non-loopback ServerURL unless AllowRemote is set.
// It resolves the host name (DNS only) and requires every address to be
// loopback; nothing is sent to the target.
func checkTarget(ctx context.Context, cfg Config) error {
	if cfg.ServerURL == "" {
		return nil
	}
	norm, err := client.ParseServerURL(cfg.ServerURL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	u, err := url.Parse(norm)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if cfg.AllowRemote {
		return nil
	}
	ok, err := isLoopbackHost(ctx, u.Hostname())
	if err != nil {
		return fmt.Errorf("%w: resolve %s: %w", ErrNotLoopback, u.Hostname(), err)
	}
	if !ok {
		return fmt.Errorf("%w: %s (pass --allow-remote to load a server you run elsewhere)", ErrNotLoopback, u.Hostname())
	}
	return nil
}

func isLoopbackHost(ctx context.Context, host string) (bool, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback(), nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false, err
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false, nil
		}
	}
	return len(addrs) > 0, nil
}

// needFiles estimates the file descriptors a run needs: one socket per
// client connection, twice when the server is in this process, plus the
// clients' local databases and some slack.
func needFiles(cfg Config) uint64 {
	var conns, dbs int
	switch cfg.Scenario {
	case Idle:
		conns, dbs = cfg.Conns+idleDevices(cfg.Conns), 0
	case OneToOne:
		conns, dbs = 2*cfg.Pairs, 2*cfg.Pairs
	case Group, Churn:
		conns, dbs = cfg.Groups*(cfg.GroupSize+churnPool), cfg.Groups*(cfg.GroupSize+churnPool)
	}
	if cfg.ServerURL == "" {
		conns *= 2
	}
	return uint64(conns + 4*dbs + 256)
}

// checkFileLimit fails when RLIMIT_NOFILE is below what the run needs.
func checkFileLimit(cfg Config) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: let the run find out
	}
	return fileLimit(needFiles(cfg), lim)
}

// fileLimit fails when lim's soft limit is below need, saying how to
// raise it.
func fileLimit(need uint64, lim syscall.Rlimit) error {
	if lim.Cur >= need {
		return nil
	}
	return fmt.Errorf("%w: this run needs about %d open files but the limit is %d; raise it with `ulimit -n %d` (the hard limit is %d)",
		ErrFileLimit, need, lim.Cur, need, lim.Max)
}

// env is a run's target and its scratch space.
type env struct {
	cfg      Config
	url      string
	caPEM    []byte
	metrics  string // Prometheus URL or ""
	srv      *server.Server
	srvDone  chan error
	stop     context.CancelFunc
	dir      string // temp dir: server data and client homes
	homes    string // where client homes go: dir, or a temp dir in Config.ClientDir
	inproc   bool
	storeTag string
	srcs     []net.IP // loopback source addresses to spread connections over
	password string
	prefix   string
	base     sample // metrics before the connections under test

	dropSchema func() // removes the in-process server's PostgreSQL schema
}

// start prepares the target: the in-process server, or a check that the
// remote one answers.
func start(ctx context.Context, cfg Config) (*env, error) {
	dir, err := os.MkdirTemp("", "sealine-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	e := &env{cfg: cfg, dir: dir, homes: dir, url: cfg.ServerURL, caPEM: cfg.CAPEM, metrics: cfg.MetricsURL,
		password: "bench password " + randHex(8), prefix: "b" + randHex(4)}
	if cfg.ClientDir != "" {
		if e.homes, err = os.MkdirTemp(cfg.ClientDir, "sealine-bench-clients-"); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("bench: client dir: %w", err)
		}
	}
	e.srcs = sourceAddrs(cfg)
	if cfg.ServerURL == "" {
		err = e.startServer(ctx)
	} else {
		e.storeTag = "remote"
		err = e.probe(ctx)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) startServer(ctx context.Context) error {
	db, drop, err := freshSchema(ctx, e.cfg.DB)
	if err != nil {
		return err
	}
	e.dropSchema = drop
	cfg := server.Config{
		Addr: "127.0.0.1:0", DataDir: filepath.Join(e.dir, "server"), DB: db,
		MetricsAddr: "127.0.0.1:0", Version: "bench",
		// Registration is not what is measured: cheap hashes, no login limit.
		PasswordParams:      password.Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32},
		MaxConcurrentHashes: 8, LoginBurst: 1 << 30, LoginInterval: time.Nanosecond,
		Messaging: server.MessagingConfig{MaxQueue: 1 << 20},
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench: start server: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	e.srv, e.stop, e.srvDone, e.inproc = srv, cancel, make(chan error, 1), true
	go func() { e.srvDone <- srv.Run(rctx) }()
	e.url, e.caPEM, e.metrics = srv.URL(), srv.CertPEM(), srv.MetricsURL()
	e.storeTag = srv.Store().Kind()
	return nil
}

// probe checks that the remote target answers GET /healthz over TLS.
func (e *env) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("%w: server URL: %w", ErrBadConfig, err)
	}
	hc := e.httpClient(0)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: nothing listens at %s (is `sealine serve` running?)", ErrRefused, e.url)
	}
	if err != nil {
		return fmt.Errorf("bench: cannot reach %s: %w", e.url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: %s/healthz answered %s", e.url, resp.Status)
	}
	return nil
}

func (e *env) close() {
	if e.srv != nil {
		e.stop()
		<-e.srvDone
	}
	if e.dropSchema != nil {
		e.dropSchema()
	}
	os.RemoveAll(e.dir)
	os.RemoveAll(e.homes)
}

// sourceAddrs returns the loopback source addresses to bind client
// connections to, so that many connections do not exhaust the ephemeral
// ports of one address. Remote targets use the default route instead.
func sourceAddrs(cfg Config) []net.IP {
	if cfg.AllowRemote {
		return nil
	}
	n := 1 + cfg.Conns/20000
	if cfg.Scenario != Idle {
		n = 4
	}
	out := make([]net.IP, 0, n)
	for i := range n {
		out = append(out, net.IPv4(127, 0, byte(1+i/250), byte(1+i%250)))
	}
	return out
}

// httpClient returns an HTTP/2, TLS 1.3 client with its own connection
// pool, bound to source address i (mod the list).
func (e *env) httpClient(i int) *http.Client {
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	if e.caPEM != nil {
		if pool, err := client.ParseCA(e.caPEM); err == nil {
			tc.RootCAs = pool
		}
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	if len(e.srcs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: e.srcs[i%len(e.srcs)]}
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	t := &http.Transport{
		TLSClientConfig: tc, Protocols: &protos, DialContext: d.DialContext,
		TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 10 * time.Minute,
	}
	return &http.Client{Transport: t}
}
