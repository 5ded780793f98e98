package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// eachBackend runs f on a server with SQLite and one with PostgreSQL (the
// latter skipped unless SEALINE_TEST_POSTGRES is set).
func eachBackend(t *testing.T, f func(*testing.T, *testenv.Env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, testenv.New(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, testenv.New(t, testenv.WithPostgres(t))) })
}

func ping(ctx context.Context, e *testenv.Env, token string) error {
	_, err := e.Devices(token).Ping(ctx, connect.NewRequest(&sealinev1.PingRequest{}))
	return err
}

func wantErr(t *testing.T, err error, code connect.Code, reason string) {
	t.Helper()
	if connect.CodeOf(err) != code || testenv.Reason(err) != reason {
		t.Fatalf("error = %v (reason %q); want %v/%s", err, testenv.Reason(err), code, reason)
	}
}

// TestRevokeDeviceEndToEnd: register, log in from a second device, list,
// revoke the first device from the second; the revoked token is refused at
// once and the first device's open WatchDevices stream ends at once.
func TestRevokeDeviceEndToEnd(t *testing.T) {
	eachBackend(t, revokeEndToEnd)
}

func revokeEndToEnd(t *testing.T, e *testenv.Env) {
	ctx := context.Background()
	first := e.Register(t, "Alice", "correct horse battery", "Alice A.", "laptop")
	second := e.Login(t, "alice", "correct horse battery", "phone")

	list, err := e.Devices(second.GetToken()).ListDevices(ctx, connect.NewRequest(&sealinev1.ListDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	devs := list.Msg.GetDevices()
	if len(devs) != 2 || devs[0].GetName() != "laptop" || devs[1].GetName() != "phone" || !devs[1].GetCurrent() || devs[0].GetCurrent() {
		t.Fatalf("devices = %v", devs)
	}

	stream, err := e.Devices(first.GetToken()).WatchDevices(ctx, connect.NewRequest(&sealinev1.WatchDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().GetKind() != sealinev1.WatchDevicesResponse_KIND_READY {
		t.Fatalf("first stream message: %v %v", stream.Msg(), stream.Err())
	}

	start := time.Now()
	_, err = e.Devices(second.GetToken()).RevokeDevice(ctx, connect.NewRequest(&sealinev1.RevokeDeviceRequest{DeviceId: first.GetDeviceId()}))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, ping(ctx, e, first.GetToken()), connect.CodeUnauthenticated, "session_invalid")
	for stream.Receive() {
		// The stream may report its own revocation before ending.
		if k := stream.Msg().GetKind(); k != sealinev1.WatchDevicesResponse_KIND_DEVICE_REVOKED {
			t.Fatalf("unexpected event %v", k)
		}
	}
	wantErr(t, stream.Err(), connect.CodeUnauthenticated, "session_revoked")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stream ended after %v; want at once", d)
	}
	if err := ping(ctx, e, second.GetToken()); err != nil {
		t.Fatalf("the revoking device was logged out too: %v", err)
	}
}

// TestWatchDevicesEvents: a watching device sees a new login and a revoke.
func TestWatchDevicesEvents(t *testing.T) {
	eachBackend(t, watchDevicesEvents)
}

func watchDevicesEvents(t *testing.T, e *testenv.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := e.Register(t, "bob", "correct horse battery", "", "laptop")
	stream, err := e.Devices(first.GetToken()).WatchDevices(ctx, connect.NewRequest(&sealinev1.WatchDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	stream.Receive() // READY
	second := e.Login(t, "bob", "correct horse battery", "tablet")
	if !stream.Receive() || stream.Msg().GetKind() != sealinev1.WatchDevicesResponse_KIND_DEVICE_ADDED || stream.Msg().GetDevice().GetName() != "tablet" {
		t.Fatalf("want DEVICE_ADDED tablet, got %v %v", stream.Msg(), stream.Err())
	}
	if _, err := e.AccountsAs(second.GetToken()).Logout(ctx, connect.NewRequest(&sealinev1.LogoutRequest{})); err != nil {
		t.Fatal(err)
	}
	if !stream.Receive() || stream.Msg().GetKind() != sealinev1.WatchDevicesResponse_KIND_DEVICE_REVOKED || stream.Msg().GetDevice().GetId() != second.GetDeviceId() {
		t.Fatalf("want DEVICE_REVOKED, got %v %v", stream.Msg(), stream.Err())
	}
	wantErr(t, ping(ctx, e, second.GetToken()), connect.CodeUnauthenticated, "session_invalid")
}

// TestChangePassword revokes the other devices and keeps the caller's.
func TestChangePassword(t *testing.T) {
	eachBackend(t, changePassword)
}

func changePassword(t *testing.T, e *testenv.Env) {
	ctx := context.Background()
	first := e.Register(t, "carol", "old password 1", "", "laptop")
	second := e.Login(t, "carol", "old password 1", "phone")
	_, err := e.AccountsAs(first.GetToken()).ChangePassword(ctx, connect.NewRequest(&sealinev1.ChangePasswordRequest{CurrentPassword: "wrong one!", NewPassword: "new password 2"}))
	wantErr(t, err, connect.CodePermissionDenied, "bad_credentials")
	resp, err := e.AccountsAs(first.GetToken()).ChangePassword(ctx, connect.NewRequest(&sealinev1.ChangePasswordRequest{CurrentPassword: "old password 1", NewPassword: "new password 2"}))
	if err != nil || resp.Msg.GetRevokedDevices() != 1 {
		t.Fatalf("ChangePassword = %v, %v", resp, err)
	}
	wantErr(t, ping(ctx, e, second.GetToken()), connect.CodeUnauthenticated, "session_invalid")
	if err := ping(ctx, e, first.GetToken()); err != nil {
		t.Fatal(err)
	}
	_, err = e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: "carol", Password: "old password 1", Device: testenv.NewDevice("x")}))
	wantErr(t, err, connect.CodeUnauthenticated, "bad_credentials")
	e.Login(t, "carol", "new password 2", "desktop")
}

// TestGRPCProtocol: the same address serves gRPC.
// TestRequestID: replies and errors carry the request id of the log line.
func TestRequestID(t *testing.T) {
	e := testenv.New(t)
	s := e.Register(t, "uma", "correct horse battery", "", "laptop")
	resp, err := e.Devices(s.GetToken()).Ping(context.Background(), connect.NewRequest(&sealinev1.PingRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header().Get("Sealine-Request-Id")
	_, err = e.Devices("bad").Ping(context.Background(), connect.NewRequest(&sealinev1.PingRequest{}))
	var ce *connect.Error
	if !errors.As(err, &ce) || len(id) != 16 || ce.Meta().Get("Sealine-Request-Id") == "" {
		t.Fatalf("request ids %q, %v", id, err)
	}
	if !strings.Contains(string(e.Logs()), `"request_id":"`+id+`"`) {
		t.Fatal("request id not in the logs")
	}
}

func TestGRPCProtocol(t *testing.T) {
	e := testenv.New(t)
	s := e.Register(t, "dave", "correct horse battery", "", "laptop")
	_, err := e.Devices(s.GetToken(), connect.WithGRPC()).Ping(context.Background(), connect.NewRequest(&sealinev1.PingRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Devices("nope", connect.WithGRPC()).Ping(context.Background(), connect.NewRequest(&sealinev1.PingRequest{}))
	wantErr(t, err, connect.CodeUnauthenticated, "session_invalid")
}

// nopNotifier drops every hint, as a lost cross-node message would.
type nopNotifier struct{}

func (nopNotifier) Notify(string) {}
func (nopNotifier) Subscribe(string) (<-chan struct{}, func()) {
	return make(chan struct{}), func() {}
}

// TestRevocationWithoutNotifier: with hints lost, the store re-check alone
// still ends a revoked device's stream (within one poll interval).
func TestRevocationWithoutNotifier(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t, func(c *server.Config) { c.Notifier, c.WatchPoll = nopNotifier{}, 100*time.Millisecond })
	first := e.Register(t, "mallory", "correct horse battery", "", "laptop")
	second := e.Login(t, "mallory", "correct horse battery", "phone")
	stream, err := e.Devices(first.GetToken()).WatchDevices(ctx, connect.NewRequest(&sealinev1.WatchDevicesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	stream.Receive() // READY
	start := time.Now()
	if _, err := e.Devices(second.GetToken()).RevokeDevice(ctx, connect.NewRequest(&sealinev1.RevokeDeviceRequest{DeviceId: first.GetDeviceId()})); err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	wantErr(t, stream.Err(), connect.CodeUnauthenticated, "session_revoked")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stream ended after %v", d)
	}
}

// TestRevokeOtherAccountsDevice: a device id of another account is unknown.
func TestRevokeOtherAccountsDevice(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	a := e.Register(t, "niaj", "correct horse battery", "", "laptop")
	b := e.Register(t, "olivia", "correct horse battery", "", "laptop")
	_, err := e.Devices(a.GetToken()).RevokeDevice(ctx, connect.NewRequest(&sealinev1.RevokeDeviceRequest{DeviceId: b.GetDeviceId()}))
	wantErr(t, err, connect.CodeNotFound, "device_not_found")
	if err := ping(ctx, e, b.GetToken()); err != nil {
		t.Fatal(err)
	}
}

// TestLastSeen: authenticated calls move last_seen_at, at most once a minute.
func TestLastSeen(t *testing.T) {
	eachBackend(t, lastSeen)
}

func lastSeen(t *testing.T, e *testenv.Env) {
	ctx := context.Background()
	s := e.Register(t, "peggy", "correct horse battery", "", "laptop")
	lastSeen := func() time.Time {
		resp, err := e.Devices(s.GetToken()).ListDevices(ctx, connect.NewRequest(&sealinev1.ListDevicesRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.GetDevices()[0].GetLastSeenAt().AsTime()
	}
	t0 := lastSeen()
	e.Clock.Advance(30 * time.Second)
	if t1 := lastSeen(); !t1.Equal(t0) {
		t.Fatalf("touched twice within a minute: %v -> %v", t0, t1)
	}
	e.Clock.Advance(31 * time.Second)
	lastSeen() // this call touches
	if t2 := lastSeen(); !t2.After(t0.Add(time.Minute)) {
		t.Fatalf("last seen %v not moved after a minute (was %v)", t2, t0)
	}
}

// TestRehashOnLogin: a hash made with old parameters is replaced at the
// next successful login.
func TestRehashOnLogin(t *testing.T) {
	dir := t.TempDir()
	e1 := testenv.New(t, func(c *server.Config) { c.DataDir = dir })
	s := e1.Register(t, "rupert", "correct horse battery", "", "laptop")
	if err := e1.Stop(); err != nil {
		t.Fatal(err)
	}
	stronger := testenv.CheapPassword()
	stronger.Time = 2
	e2 := testenv.New(t, func(c *server.Config) { c.DataDir, c.PasswordParams = dir, stronger })
	e2.Login(t, "rupert", "correct horse battery", "phone")
	u, err := e2.Server.Store().UserByID(context.Background(), s.GetUserId())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.PasswordHash, ",t=2,") {
		t.Fatalf("hash not upgraded: %s", u.PasswordHash[:30])
	}
	e2.Login(t, "rupert", "correct horse battery", "tablet")
}
