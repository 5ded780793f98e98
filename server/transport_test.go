package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

func hostPort(e *testenv.Env) string { return strings.TrimPrefix(e.URL, "https://") }

// TestTLS12Refused: a client that offers at most TLS 1.2 gets no session.
func TestTLS12Refused(t *testing.T) {
	e := testenv.New(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.Server.CertPEM())
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", hostPort(e), &tls.Config{RootCAs: pool, MaxVersion: max})
		if err == nil {
			conn.Close()
			t.Fatalf("handshake with max version %x succeeded", max)
		}
	}
	conn, err := tls.Dial("tcp", hostPort(e), &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if st := conn.ConnectionState(); st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
		t.Fatalf("version %x, protocol %q; want TLS 1.3 and h2", st.Version, st.NegotiatedProtocol)
	}
}

// TestPlaintextRefused: plain HTTP/1.1 to the port gets at most an error
// status and never an API response.
func TestPlaintextRefused(t *testing.T) {
	e := testenv.New(t)
	s := e.Register(t, "kim", "correct horse battery", "", "laptop")
	requests := []string{
		"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"POST /sealine.v1.DeviceService/Ping HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
			"Authorization: Bearer " + s.GetToken() + "\r\nContent-Length: 2\r\n\r\n{}",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	}
	for _, req := range requests {
		conn, err := net.DialTimeout("tcp", hostPort(e), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		io.WriteString(conn, req)
		got, _ := io.ReadAll(bufio.NewReader(conn))
		conn.Close()
		if bytes.Contains(got, []byte("serverTime")) || bytes.Contains(got, []byte("ok\n")) {
			t.Fatalf("plaintext request answered: %q", got)
		}
		if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.0 400")) && !bytes.HasPrefix(got, []byte("\x15\x03")) {
			t.Fatalf("unexpected plaintext reply %q", got)
		}
	}
}

func TestHealthz(t *testing.T) {
	e := testenv.New(t)
	resp, err := e.HTTP.Get(e.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("healthz: %s over %s", resp.Status, resp.Proto)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	base := func() server.Config {
		return server.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), PasswordParams: testenv.CheapPassword()}
	}
	tests := []struct {
		name    string
		mutate  func(*server.Config)
		want    error
		message string
	}{
		{"db of unknown form", func(c *server.Config) { c.DB = "mysql://root:hunter2@db/sealine" }, server.ErrBadDB, "postgres://"},
		{"db that is a bare path", func(c *server.Config) { c.DB = "/var/lib/x.db" }, server.ErrBadDB, "sqlite:"},
		{"data dir under a file", func(c *server.Config) { c.DataDir = filepath.Join(file, "sub") }, nil, "data dir"},
		{"metrics not loopback", func(c *server.Config) { c.MetricsAddr = "0.0.0.0:9090" }, server.ErrMetricsNotLoopback, "loopback"},
		{"cert without key", func(c *server.Config) { c.TLSCertFile = file }, nil, "TLS"},
		{"bad listen address", func(c *server.Config) { c.Addr = "127.0.0.1:http-alt-nope" }, nil, "listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mutate(&cfg)
			s, err := server.New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q: want it to mention %q and hold no secret", err, tt.message)
			}
		})
	}
}

// TestRestartKeepsKeysAndCert: a second start on the same data dir reuses
// the KEK (sealed names still open) and the certificate.
func TestRestartKeepsKeysAndCert(t *testing.T) {
	dir := t.TempDir()
	cfg := func(*server.Config) {}
	e1 := testenv.New(t, func(c *server.Config) { c.DataDir = dir }, cfg)
	e1.Register(t, "liam", "correct horse battery", "Liam", "laptop")
	cert1 := e1.Server.CertPEM()
	if err := e1.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kek.key", "tls/key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	e2 := testenv.New(t, func(c *server.Config) { c.DataDir = dir })
	if !bytes.Equal(cert1, e2.Server.CertPEM()) {
		t.Fatal("certificate not reused")
	}
	s := e2.Login(t, "liam", "correct horse battery", "phone")
	if err := ping(context.Background(), e2, s.GetToken()); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownEndsStreams: when Run's context ends, open streams end with
// unavailable/shutting_down and Run returns promptly.
func TestShutdownEndsStreams(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	s := e.Register(t, "sybil", "correct horse battery", "", "laptop")
	stream, err := e.Devices(s.GetToken()).WatchDevices(ctx, connect.NewRequest(&sealinev1.WatchDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	stream.Receive() // READY
	start := time.Now()
	if err := e.Stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	for stream.Receive() {
	}
	wantErr(t, stream.Err(), connect.CodeUnavailable, "shutting_down")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if err := ping(ctx, e, s.GetToken()); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

// TestStartLineAndCert: the start line names URL, data dir, store and the
// certificate fingerprint; the self-signed certificate is ECDSA P-256 for
// the loopback names.
func TestStartLineAndCert(t *testing.T) {
	e := testenv.New(t)
	block, _ := pem.Decode(e.Server.CertPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	line := e.Server.StartLine()
	for _, want := range []string{e.URL, e.DataDir, "db=sqlite", "sha256:" + hex.EncodeToString(sum[:])} {
		if !strings.Contains(line, want) {
			t.Errorf("start line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "\n") {
		t.Error("start line has several lines")
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("certificate key %T", cert.PublicKey)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if err := cert.VerifyHostname(ip); err != nil {
			t.Error(err)
		}
	}
}

// TestCloseWithoutRun releases the port and the store.
func TestCloseWithoutRun(t *testing.T) {
	dir := t.TempDir()
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: dir, PasswordParams: testenv.CheapPassword()}
	s, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(s.URL(), "https://")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	ln.Close()
	cfg.Addr = addr
	s2, err := server.New(context.Background(), cfg) // the store reopens too
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}
