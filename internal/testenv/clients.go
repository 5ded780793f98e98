package testenv

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/client/localstore"
)

// UserPassword is the password SDKUser registers and logs in with.
func UserPassword(user string) string { return "correct horse battery " + user }

// CheapKDF are Argon2id parameters for client stores in tests.
var CheapKDF = localstore.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// SDKClient returns an SDK client with a fresh 0700 home, trusting the
// server. hc, if non-nil, replaces the HTTP client (e.g. one going
// through a hostile proxy).
func (e *Env) SDKClient(t testing.TB, hc *http.Client) *client.Client {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	timeout := e.ClientTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	c, err := client.New(client.Config{ServerURL: e.URL, CAPEM: e.Server.CertPEM(), HTTPClient: hc, Home: home, Timeout: timeout})
	if err != nil {
		t.Fatalf("testenv: client: %v", err)
	}
	return c
}

// SDKUser registers user through the SDK and returns its client.
func (e *Env) SDKUser(t testing.TB, user string, hc *http.Client) *client.Client {
	t.Helper()
	c := e.SDKClient(t, hc)
	_, err := c.Register(context.Background(), client.RegisterParams{Username: user, Password: UserPassword(user), DeviceName: "laptop"})
	if err != nil {
		t.Fatalf("testenv: register %s: %v", user, err)
	}
	return c
}

// SDKLogin logs a new device of user in through the SDK.
func (e *Env) SDKLogin(t testing.TB, user string, hc *http.Client) *client.Client {
	t.Helper()
	c := e.SDKClient(t, hc)
	_, err := c.Login(context.Background(), client.LoginParams{Username: user, Password: UserPassword(user), DeviceName: "phone"})
	if err != nil {
		t.Fatalf("testenv: login %s: %v", user, err)
	}
	return c
}

// Messenger opens c's messenger with cheap key derivation and the
// server's clock, publishes its KeyPackages and, if run, starts its
// receive loop until the test ends.
func (e *Env) Messenger(t testing.TB, c *client.Client, run bool, cfg client.MessengerConfig) *client.Messenger {
	t.Helper()
	if cfg.KDF == nil {
		cfg.KDF = &CheapKDF
	}
	if cfg.Now == nil {
		cfg.Now = e.Clock.Now
	}
	if cfg.KeyPackages == 0 {
		cfg.KeyPackages = 4
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 500*time.Millisecond
	}
	m, err := c.Messenger(cfg)
	if err != nil {
		t.Fatalf("testenv: messenger: %v", err)
	}
	if _, err := m.TopUpKeyPackages(context.Background()); err != nil {
		t.Fatalf("testenv: key packages: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if run {
		go func() { defer close(done); m.Run(ctx) }()
	} else {
		close(done)
	}
	t.Cleanup(func() { cancel(); <-done; m.Close() })
	return m
}
