package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// These tests run the SDK against the real server (in process, through
// internal/testenv), to check the error mapping against the reasons the
// server actually sends. The client package itself never imports server.

func newClient(t *testing.T, env *testenv.Env) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		ServerURL: env.URL, CAPEM: env.Server.CertPEM(),
		Home: filepath.Join(t.TempDir(), "home"), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func register(t *testing.T, c *client.Client, user string) client.Session {
	t.Helper()
	s, err := c.Register(context.Background(), client.RegisterParams{Username: user, Password: "correct horse", DeviceName: "one"})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return s
}

func TestE2ERefusals(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	register(t, newClient(t, env), "alice")
	tests := []struct {
		name string
		do   func(*client.Client) error
		want error
	}{
		{"taken", func(c *client.Client) error {
			_, err := c.Register(ctx, client.RegisterParams{Username: "ALICE", Password: "correct horse", DeviceName: "x"})
			return err
		}, client.ErrUsernameTaken},
		{"invalid username", func(c *client.Client) error {
			_, err := c.Register(ctx, client.RegisterParams{Username: "a b", Password: "correct horse", DeviceName: "x"})
			return err
		}, client.ErrUsernameInvalid},
		{"confusable username", func(c *client.Client) error {
			_, err := c.Register(ctx, client.RegisterParams{Username: "p\u0430ypal", Password: "correct horse", DeviceName: "x"})
			return err
		}, client.ErrUsernameInvalid},
		{"weak password", func(c *client.Client) error {
			_, err := c.Register(ctx, client.RegisterParams{Username: "bob", Password: "short", DeviceName: "x"})
			return err
		}, client.ErrPasswordWeak},
		{"empty device name", func(c *client.Client) error {
			_, err := c.Register(ctx, client.RegisterParams{Username: "bob", Password: "correct horse", DeviceName: ""})
			return err
		}, client.ErrInvalidInput},
		{"wrong password", func(c *client.Client) error {
			_, err := c.Login(ctx, client.LoginParams{Username: "alice", Password: "wrong horse", DeviceName: "x"})
			return err
		}, client.ErrBadCredentials},
		{"unknown user", func(c *client.Client) error {
			_, err := c.Login(ctx, client.LoginParams{Username: "nobody", Password: "correct horse", DeviceName: "x"})
			return err
		}, client.ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(newClient(t, env)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestE2ELockout(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t, func(c *server.Config) { c.LockoutFailures = 2 })
	register(t, newClient(t, env), "carol")
	c := newClient(t, env)
	var err error
	for range 2 {
		_, err = c.Login(ctx, client.LoginParams{Username: "carol", Password: "wrong horse", DeviceName: "x"})
	}
	var ae *client.Error
	if !errors.Is(err, client.ErrLockedOut) || !errors.As(err, &ae) || !ae.RetryAfter.After(time.Now()) {
		t.Fatalf("Login after 2 failures = %v, want ErrLockedOut with a future RetryAfter", err)
	}
	_, err = c.Login(ctx, client.LoginParams{Username: "carol", Password: "correct horse", DeviceName: "x"})
	if !errors.Is(err, client.ErrLockedOut) {
		t.Fatalf("Login with the right password while locked = %v, want ErrLockedOut", err)
	}
}

func TestE2ERateLimited(t *testing.T) {
	env := testenv.New(t, func(c *server.Config) { c.LoginBurst, c.LoginInterval = 1, time.Hour })
	c := newClient(t, env)
	register(t, c, "dora")
	_, err := newClient(t, env).Login(context.Background(), client.LoginParams{Username: "dora", Password: "correct horse", DeviceName: "x"})
	var ae *client.Error
	if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &ae) || ae.RetryAfter.IsZero() {
		t.Fatalf("second attempt = %v, want ErrRateLimited with RetryAfter", err)
	}
}

func TestE2EWatchAndRevoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	env := testenv.New(t)
	a := newClient(t, env)
	sa := register(t, a, "erin")
	w, err := a.WatchDevices(ctx)
	if err != nil {
		t.Fatalf("WatchDevices: %v", err)
	}
	defer w.Close()
	b := newClient(t, env)
	sb, err := b.Login(ctx, client.LoginParams{Username: "erin", Password: "correct horse", DeviceName: "two"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := w.Next()
	if err != nil || ev.Kind != client.DeviceAdded || ev.Device.ID != sb.DeviceID || ev.Device.Name != "two" {
		t.Fatalf("Next = %+v, %v; want device_added for %s", ev, err, sb.DeviceID)
	}
	if err := b.RevokeDevice(ctx, sa.DeviceID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); !errors.Is(err, client.ErrSessionInvalid) {
		t.Fatalf("Next after revocation = %v, want ErrSessionInvalid", err)
	}
	if _, err := a.Session(); !errors.Is(err, client.ErrNotLoggedIn) {
		t.Errorf("revoked client still holds a session: %v", err)
	}
	if err := b.RevokeDevice(ctx, sa.DeviceID); !errors.Is(err, client.ErrDeviceNotFound) {
		t.Errorf("second revoke = %v, want ErrDeviceNotFound", err)
	}
}

func TestE2EChangePassword(t *testing.T) {
	ctx := context.Background()
	env := testenv.New(t)
	a := newClient(t, env)
	register(t, a, "fay")
	b := newClient(t, env)
	if _, err := b.Login(ctx, client.LoginParams{Username: "fay", Password: "correct horse", DeviceName: "two"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ChangePassword(ctx, "wrong horse", "battery staple"); !errors.Is(err, client.ErrBadCredentials) {
		t.Errorf("ChangePassword(wrong) = %v, want ErrBadCredentials", err)
	}
	n, err := a.ChangePassword(ctx, "correct horse", "battery staple")
	if err != nil || n != 1 {
		t.Fatalf("ChangePassword = %d, %v; want 1 device revoked", n, err)
	}
	if _, err := b.Ping(ctx); !errors.Is(err, client.ErrSessionInvalid) {
		t.Errorf("other device after password change: Ping = %v, want ErrSessionInvalid", err)
	}
	if err := a.Logout(ctx); err != nil {
		t.Errorf("Logout: %v", err)
	}
}

// BenchmarkPing measures one authenticated unary call through the SDK
// (client and in-process server on one machine, HTTP/2 over TLS 1.3).
func BenchmarkPing(b *testing.B) {
	env := testenv.New(b)
	c, err := client.New(client.Config{ServerURL: env.URL, CAPEM: env.Server.CertPEM(), Home: filepath.Join(b.TempDir(), "home")})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Register(ctx, client.RegisterParams{Username: "bench", Password: "correct horse", DeviceName: "b"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
