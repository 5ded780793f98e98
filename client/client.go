package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
)

// maxResponseBytes bounds each response message the client decodes.
const maxResponseBytes = 4 << 20

// Config configures a Client. Only ServerURL is required.
type Config struct {
	// ServerURL is the server's base URL, e.g. https://127.0.0.1:8443.
	// It must use https and carry no path beyond "/", query or user info.
	ServerURL string
	// CAPEM holds PEM certificates to trust instead of the system roots.
	CAPEM []byte
	// HTTPClient replaces the built-in HTTP/2, TLS 1.3 client (CAPEM is then
	// ignored). The caller is responsible for its TLS settings.
	HTTPClient *http.Client
	// Home is the state directory; empty means DefaultHome().
	Home string
	// Rand is the source for device keys; nil means crypto/rand.
	Rand io.Reader
	// Timeout bounds each unary call; zero means 30 seconds.
	Timeout time.Duration
}

// Client talks to one Sealine server on behalf of one device. It is safe
// for concurrent use.
type Client struct {
	server   string
	home     home
	rand     io.Reader
	timeout  time.Duration
	hc       *http.Client // shared by the messaging services (messenger.go)
	accounts sealinev1connect.AccountServiceClient
	devices  sealinev1connect.DeviceServiceClient

	mu      sync.Mutex
	session *Session // nil until loaded or created
	key     ed25519.PrivateKey
}

// New checks cfg and returns a Client. It makes no network request and
// reads no state until a method needs it.
func New(cfg Config) (*Client, error) {
	server, err := ParseServerURL(cfg.ServerURL)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		if hc, err = newHTTPClient(cfg.CAPEM); err != nil {
			return nil, err
		}
	}
	dir := cfg.Home
	if dir == "" {
		if dir, err = DefaultHome(); err != nil {
			return nil, err
		}
	}
	c := &Client{server: server, home: home{dir}, rand: cfg.Rand, timeout: cfg.Timeout, hc: hc}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	limit := connect.WithReadMaxBytes(maxResponseBytes)
	c.accounts = sealinev1connect.NewAccountServiceClient(hc, server, limit)
	c.devices = sealinev1connect.NewDeviceServiceClient(hc, server, limit)
	return c, nil
}

// ParseServerURL checks that raw is an https URL of a server root and
// returns it without a trailing slash.
func ParseServerURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "", fmt.Errorf("%w %q: want https://HOST[:PORT]", ErrBadURL, raw)
	}
	if u.Scheme == "http" {
		return "", fmt.Errorf("%w, got %q (Sealine has no plaintext listener)", ErrInsecureURL, raw)
	}
	if u.Scheme != "https" || u.Host == "" || u.Hostname() == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("%w %q: want https://HOST[:PORT]", ErrBadURL, raw)
	}
	return "https://" + u.Host, nil
}

// ParseCA returns a pool holding every certificate in pemBytes, or ErrBadCA.
func ParseCA(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := pemBytes; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCA, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, ErrBadCA
	}
	return pool, nil
}

// newHTTPClient returns an HTTP/2-only client that requires TLS 1.3.
func newHTTPClient(caPEM []byte) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	if caPEM != nil {
		pool, err := ParseCA(caPEM)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	t := &http.Transport{
		TLSClientConfig:     tc,
		Protocols:           &protos,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		Proxy:               http.ProxyFromEnvironment,
	}
	return &http.Client{Transport: t}, nil
}

// Server returns the normalised server URL.
func (c *Client) Server() string { return c.server }

// Home returns the state directory.
func (c *Client) Home() string { return c.home.dir }

// Session returns the stored session, or ErrNotLoggedIn.
func (c *Client) Session() (Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.loadLocked(); err != nil {
		return Session{}, err
	}
	return *c.session, nil
}

// LoggedIn reports whether the home directory holds a session (for any
// server), in which case Register and Login refuse with ErrAlreadyLoggedIn.
func (c *Client) LoggedIn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session != nil || c.home.exists()
}

// loadLocked reads the session from disk once. c.mu must be held.
func (c *Client) loadLocked() error {
	if c.session != nil {
		return nil
	}
	s, key, err := c.home.load()
	if err != nil {
		return err
	}
	if s.Server != c.server {
		return fmt.Errorf("%w on %s (the session in %s is for %s)", ErrNotLoggedIn, c.server, c.home.dir, s.Server)
	}
	c.session, c.key = &s, key
	return nil
}

// authorize sets the session's bearer token on req, or returns ErrNotLoggedIn.
func authorize[T any](c *Client, req *connect.Request[T]) error {
	s, err := c.Session()
	if err != nil {
		return err
	}
	req.Header().Set("Authorization", "Bearer "+s.Token)
	return nil
}

// forget drops the session in memory and on disk.
func (c *Client) forget() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session, c.key = nil, nil
	return c.home.clear()
}
