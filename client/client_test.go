package client

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
)

// env is a fake server plus a way to make clients with their own homes.
type env struct {
	t    *testing.T
	fake *fakeServer
	url  string
	ca   []byte
}

func newEnv(t *testing.T) *env {
	f := newFakeServer()
	url, ca := f.start(t, 0)
	return &env{t: t, fake: f, url: url, ca: ca}
}

func (e *env) client() *Client {
	e.t.Helper()
	c, err := New(Config{ServerURL: e.url, CAPEM: e.ca, Home: filepath.Join(e.t.TempDir(), "home"), Timeout: 5 * time.Second})
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return c
}

func (e *env) registered(user string) *Client {
	e.t.Helper()
	c := e.client()
	if _, err := c.Register(context.Background(), RegisterParams{Username: user, Password: "correct horse", DeviceName: "first"}); err != nil {
		e.t.Fatalf("Register: %v", err)
	}
	return c
}

func (e *env) loggedIn(user string) *Client {
	e.t.Helper()
	c := e.client()
	if _, err := c.Login(context.Background(), LoginParams{Username: user, Password: "correct horse", DeviceName: "second"}); err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	return c
}

func TestRegisterLoginRevoke(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.registered("alice")
	b := e.loggedIn("alice")
	devs, err := b.Devices(ctx)
	if err != nil || len(devs) != 2 {
		t.Fatalf("Devices = %v, %v; want 2 devices", devs, err)
	}
	sa, _ := a.Session()
	sb, _ := b.Session()
	for _, d := range devs {
		if d.Current != (d.ID == sb.DeviceID) {
			t.Errorf("device %s: Current = %v", d.ID, d.Current)
		}
	}
	if err := b.RevokeDevice(ctx, sa.DeviceID); err != nil {
		t.Fatalf("RevokeDevice: %v", err)
	}
	if _, err := a.Devices(ctx); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("revoked device: Devices err = %v, want ErrSessionInvalid", err)
	}
	if _, err := os.Stat(filepath.Join(a.Home(), deviceFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("revoked device key still on disk: %v", err)
	}
	if _, err := a.Devices(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("after revoke: Devices err = %v, want ErrNotLoggedIn", err)
	}
	if err := b.RevokeDevice(ctx, "no-such-device"); !errors.Is(err, ErrDeviceNotFound) {
		t.Errorf("RevokeDevice(unknown) = %v, want ErrDeviceNotFound", err)
	}
	if _, err := b.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestStateFiles(t *testing.T) {
	e := newEnv(t)
	c := e.registered("bob")
	for name, want := range map[string]os.FileMode{"": 0o700, sessionFile: 0o600, deviceFile: 0o600} {
		fi, err := os.Stat(filepath.Join(c.Home(), name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%q: mode %v, %v; want %v", name, fi.Mode().Perm(), err, want)
		}
	}
	// A second client on the same home reads the same session and key.
	c2, err := New(Config{ServerURL: e.url + "/", CAPEM: e.ca, Home: c.Home()})
	if err != nil {
		t.Fatal(err)
	}
	key, err := c2.DeviceKey()
	if err != nil {
		t.Fatalf("DeviceKey: %v", err)
	}
	devs, err := c2.Devices(context.Background())
	if err != nil || len(devs) != 1 || !devs[0].SignatureKey.Equal(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("Devices = %+v, %v; want the stored key's public half", devs, err)
	}
	// A state file readable by others is refused.
	if err := os.Chmod(filepath.Join(c.Home(), sessionFile), 0o644); err != nil {
		t.Fatal(err)
	}
	c3, _ := New(Config{ServerURL: e.url, CAPEM: e.ca, Home: c.Home()})
	if _, err := c3.Session(); !errors.Is(err, ErrInsecureState) {
		t.Errorf("Session with 0644 file = %v, want ErrInsecureState", err)
	}
}

func TestSessionForOtherServer(t *testing.T) {
	e := newEnv(t)
	c := e.registered("carol")
	other, _ := New(Config{ServerURL: "https://other.example", Home: c.Home()})
	if _, err := other.Devices(context.Background()); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Devices on another server = %v, want ErrNotLoggedIn", err)
	}
}

func TestEnrollRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.registered("dave")
	if !a.LoggedIn() || e.client().LoggedIn() {
		t.Errorf("LoggedIn wrong")
	}
	if _, err := a.Register(ctx, RegisterParams{Username: "dave2", Password: "correct horse"}); !errors.Is(err, ErrAlreadyLoggedIn) {
		t.Errorf("Register while logged in = %v, want ErrAlreadyLoggedIn", err)
	}
	tests := []struct {
		name string
		do   func(*Client) error
		want error
	}{
		{"taken", func(c *Client) error {
			_, err := c.Register(ctx, RegisterParams{Username: "dave", Password: "correct horse"})
			return err
		}, ErrUsernameTaken},
		{"weak", func(c *Client) error {
			_, err := c.Register(ctx, RegisterParams{Username: "erin", Password: "short"})
			return err
		}, ErrPasswordWeak},
		{"wrong password", func(c *Client) error {
			_, err := c.Login(ctx, LoginParams{Username: "dave", Password: "wrong horse"})
			return err
		}, ErrBadCredentials},
		{"unknown user", func(c *Client) error {
			_, err := c.Login(ctx, LoginParams{Username: "nobody", Password: "correct horse"})
			return err
		}, ErrBadCredentials},
		{"logout without session", func(c *Client) error { return c.Logout(ctx) }, ErrNotLoggedIn},
		{"devices without session", func(c *Client) error { _, err := c.Devices(ctx); return err }, ErrNotLoggedIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client()
			if err := tt.do(c); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(c.Home(), sessionFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("refused call left state behind: %v", err)
			}
		})
	}
}

func TestLockedOutRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.registered("frank")
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e.fake.refuse = refusal(connect.CodeResourceExhausted, "locked_out", until)
	_, err := e.client().Login(context.Background(), LoginParams{Username: "frank", Password: "x"})
	var ae *Error
	if !errors.Is(err, ErrLockedOut) || !errors.As(err, &ae) || !ae.RetryAfter.Equal(until) {
		t.Fatalf("Login = %v, want ErrLockedOut with RetryAfter %v", err, until)
	}
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("CodeOf = %v, want resource_exhausted", connect.CodeOf(err))
	}
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.registered("gina")
	if err := a.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := a.Session(); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("after Logout: Session = %v, want ErrNotLoggedIn", err)
	}
	// Logout of a device another device already revoked still clears it.
	a = e.loggedIn("gina")
	b := e.loggedIn("gina")
	sa, _ := a.Session()
	if err := b.RevokeDevice(ctx, sa.DeviceID); err != nil {
		t.Fatal(err)
	}
	if err := a.Logout(ctx); err != nil {
		t.Errorf("Logout of revoked device = %v, want nil", err)
	}
	// Revoking one's own device clears the local state too.
	sb, _ := b.Session()
	if err := b.RevokeDevice(ctx, sb.DeviceID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Session(); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("after revoking itself: Session = %v, want ErrNotLoggedIn", err)
	}
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.registered("hana")
	e.loggedIn("hana")
	if _, err := a.ChangePassword(ctx, "wrong", "new password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("ChangePassword(wrong) = %v, want ErrBadCredentials", err)
	}
	n, err := a.ChangePassword(ctx, "correct horse", "new password")
	if err != nil || n != 1 {
		t.Errorf("ChangePassword = %d, %v; want 1 revoked", n, err)
	}
}

func TestWatchDevices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := newEnv(t)
	a := e.registered("ivan")
	w, err := a.WatchDevices(ctx)
	if err != nil {
		t.Fatalf("WatchDevices: %v", err)
	}
	defer w.Close()
	b := e.loggedIn("ivan")
	sb, _ := b.Session()
	ev, err := w.Next()
	if err != nil || ev.Kind != DeviceAdded || ev.Device.ID != sb.DeviceID {
		t.Fatalf("Next = %+v, %v; want device_added %s", ev, err, sb.DeviceID)
	}
	sa, _ := a.Session()
	if err := b.RevokeDevice(ctx, sa.DeviceID); err != nil {
		t.Fatal(err)
	}
	if ev, err = w.Next(); err != nil || ev.Kind != DeviceRevoked {
		t.Fatalf("Next = %+v, %v; want device_revoked", ev, err)
	}
	if _, err = w.Next(); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("Next after own revocation = %v, want ErrSessionInvalid", err)
	}
	if err == io.EOF {
		t.Fatal("stream ended cleanly, want a refusal")
	}
}

func TestTLS12Refused(t *testing.T) {
	f := newFakeServer()
	url, ca := f.start(t, tls.VersionTLS12)
	c, err := New(Config{ServerURL: url, CAPEM: ca, Home: filepath.Join(t.TempDir(), "home")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(context.Background(), RegisterParams{Username: "jon", Password: "correct horse"})
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("Register over TLS 1.2 = %v, want a protocol version failure", err)
	}
}

func TestUntrustedServer(t *testing.T) {
	e := newEnv(t)
	c, err := New(Config{ServerURL: e.url, Home: filepath.Join(t.TempDir(), "home")}) // system roots only
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(context.Background(), RegisterParams{Username: "kim", Password: "correct horse"})
	if !errors.Is(err, ErrUntrustedServer) {
		t.Fatalf("Register = %v, want ErrUntrustedServer", err)
	}
}

func TestHomeOpenToOthersRefused(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	c, err := New(Config{ServerURL: e.url, CAPEM: e.ca, Home: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(context.Background(), RegisterParams{Username: "lee", Password: "correct horse"})
	if !errors.Is(err, ErrInsecureState) {
		t.Fatalf("Register into a 0755 home = %v, want ErrInsecureState", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused Register wrote %d files", len(entries))
	}
	e.registered("lee") // the refusal created no account
}

func TestWatchDevicesOpenTimeout(t *testing.T) {
	e := newEnv(t)
	c, err := New(Config{ServerURL: e.url, CAPEM: e.ca, Home: filepath.Join(t.TempDir(), "home"), Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(context.Background(), RegisterParams{Username: "noa", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	e.fake.mu.Lock()
	e.fake.silentWatch = true
	e.fake.mu.Unlock()
	start := time.Now()
	if _, err := c.WatchDevices(context.Background()); err == nil {
		t.Fatal("WatchDevices without READY succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("WatchDevices took %v to give up, want about the 300ms timeout", d)
	}
}
