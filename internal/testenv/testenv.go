// Package testenv runs a real Sealine server in the test process, on
// 127.0.0.1 with a random port, a temporary data dir (SQLite), cheap Argon2id
// parameters and an adjustable clock, and hands out Connect clients that
// trust its self-signed certificate. End-to-end tests of every package use
// it; it is for tests only.
package testenv

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/internal/password"
	"github.com/sealine/sealine/server"
)

// CheapPassword are Argon2id parameters for tests: the same code, ~0.1 ms.
func CheapPassword() password.Params {
	return password.Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Env is a running in-process server and what a test needs to talk to it.
type Env struct {
	Server  *server.Server
	Config  server.Config // as passed to server.New
	URL     string
	DataDir string
	// HTTP trusts the server's certificate and speaks HTTP/2 over TLS 1.3.
	HTTP  *http.Client
	Clock *Clock
	// ClientTimeout is the SDK clients' Timeout (default 20 s). Tests
	// that run hundreds of clients on two cores raise it: there one MLS
	// operation can wait a long time for CPU.
	ClientTimeout time.Duration
	logs          *syncBuffer
	stop          func() error
}

// New starts a server for t and stops it when t ends. Each configure
// function may adjust the Config before New is called.
func New(t testing.TB, configure ...func(*server.Config)) *Env {
	t.Helper()
	e := &Env{DataDir: t.TempDir(), Clock: &Clock{}, logs: &syncBuffer{}}
	e.Config = server.Config{
		Addr:           "127.0.0.1:0",
		DataDir:        e.DataDir,
		Logger:         NewJSONLogger(e.logs),
		Now:            e.Clock.Now,
		PasswordParams: CheapPassword(),
		LoginBurst:     1000,
		LoginInterval:  time.Millisecond,
		Version:        "test",
	}
	for _, f := range configure {
		f(&e.Config)
	}
	e.DataDir = e.Config.DataDir
	e.start(t)
	return e
}

func (e *Env) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, e.Config)
	if err != nil {
		cancel()
		t.Fatalf("testenv: server.New: %v", err)
	}
	e.Server, e.URL = srv, srv.URL()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	var runErr error
	e.stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("testenv: server.Run: %v", err)
		}
	})
	e.HTTP = NewHTTPClient(t, srv.CertPEM())
	t.Cleanup(e.HTTP.CloseIdleConnections)
}

// Stop cancels the server's context and returns what Run returned. The test
// cleanup calls it too; calling it twice is harmless.
func (e *Env) Stop() error { return e.stop() }

// NewHTTPClient returns an HTTP/2 client over TLS 1.3 trusting certPEM only.
func NewHTTPClient(t testing.TB, certPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("testenv: bad certificate PEM")
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
		Protocols:         protocols,
		ForceAttemptHTTP2: true,
	}}
}

// NewJSONLogger logs JSON at debug level to w.
func NewJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Logs returns everything the server logged so far.
func (e *Env) Logs() []byte { return e.logs.Bytes() }

// Accounts returns an AccountService client (Connect protocol unless opts
// say otherwise, e.g. connect.WithGRPC()).
func (e *Env) Accounts(opts ...connect.ClientOption) sealinev1connect.AccountServiceClient {
	return sealinev1connect.NewAccountServiceClient(e.HTTP, e.URL, opts...)
}

// Devices returns a DeviceService client sending token as its session.
func (e *Env) Devices(token string, opts ...connect.ClientOption) sealinev1connect.DeviceServiceClient {
	opts = append(opts, WithToken(token))
	return sealinev1connect.NewDeviceServiceClient(e.HTTP, e.URL, opts...)
}

// AccountsAs returns an AccountService client sending token as its session.
func (e *Env) AccountsAs(token string, opts ...connect.ClientOption) sealinev1connect.AccountServiceClient {
	return e.Accounts(append(opts, WithToken(token))...)
}

// WithToken adds "Authorization: Bearer <token>" to every call.
func WithToken(token string) connect.ClientOption {
	return connect.WithInterceptors(bearer(token))
}

// NewDevice describes a device with a fresh Ed25519 key.
func NewDevice(name string) *sealinev1.NewDevice {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return &sealinev1.NewDevice{Name: name, SignatureKey: pub}
}

// Register creates an account and returns its first session.
func (e *Env) Register(t testing.TB, user, pw, displayName, device string) *sealinev1.Session {
	t.Helper()
	resp, err := e.Accounts().Register(context.Background(), connect.NewRequest(&sealinev1.RegisterRequest{
		Username: user, Password: pw, DisplayName: displayName, Device: NewDevice(device),
	}))
	if err != nil {
		t.Fatalf("testenv: register: %v", err)
	}
	return resp.Msg.GetSession()
}

// Login opens a session on a new device.
func (e *Env) Login(t testing.TB, user, pw, device string) *sealinev1.Session {
	t.Helper()
	resp, err := e.Accounts().Login(context.Background(), connect.NewRequest(&sealinev1.LoginRequest{
		Username: user, Password: pw, Device: NewDevice(device),
	}))
	if err != nil {
		t.Fatalf("testenv: login: %v", err)
	}
	return resp.Msg.GetSession()
}

// Reason returns the ErrorDetail reason of a Connect error, or "".
func Reason(err error) string {
	d := Detail(err)
	if d == nil {
		return ""
	}
	return d.GetReason()
}

// Detail returns the ErrorDetail of a Connect error, or nil.
func Detail(err error) *sealinev1.ErrorDetail {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return nil
	}
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if ed, ok := v.(*sealinev1.ErrorDetail); ok {
				return ed
			}
		}
	}
	return nil
}

// Clock is a clock that runs with real time plus an offset tests advance.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the current time plus the offset.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// bearer adds the session token to unary calls and streams.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
