package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// unchanged runs f and fails if any row of the store changed.
func unchanged(t *testing.T, e *testenv.Env, f func()) {
	t.Helper()
	before := e.DBDigest(t)
	f()
	if after := e.DBDigest(t); after != before {
		t.Fatal("the store changed")
	}
}

// rawPost sends body to an API procedure with the Connect unary protocol
// and returns the HTTP status, the Connect error code and the reason of its
// ErrorDetail.
func rawPost(t *testing.T, e *testenv.Env, procedure, contentType string, body []byte) (int, string, string) {
	t.Helper()
	resp, err := e.HTTP.Post(e.URL+procedure, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var wire struct {
		Code    string
		Details []struct{ Type, Value string }
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &wire)
	var detail sealinev1.ErrorDetail
	for _, d := range wire.Details {
		v, _ := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
		if d.Type == "sealine.v1.ErrorDetail" {
			proto.Unmarshal(v, &detail)
		}
	}
	return resp.StatusCode, wire.Code, detail.GetReason()
}

func TestMalformedAndOversizedBodies(t *testing.T) {
	e := testenv.New(t)
	e.Register(t, "erin", "correct horse battery", "", "laptop")
	tests := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		wantCode    string
		reason      string
	}{
		{"garbage protobuf", "application/proto", []byte("\xff\xff\xff\xff\x0f garbage"), http.StatusBadRequest, "invalid_argument", "message_invalid"},
		{"truncated field", "application/proto", []byte{0x0a, 0x40, 'a'}, http.StatusBadRequest, "invalid_argument", "message_invalid"},
		{"invalid utf-8 string", "application/proto", []byte{0x0a, 0x03, 'a', 0xff, 'b'}, http.StatusBadRequest, "invalid_argument", "message_invalid"},
		{"garbage JSON", "application/json", []byte(`{"username": 7`), http.StatusBadRequest, "invalid_argument", "message_invalid"},
		{"empty JSON", "application/json", nil, http.StatusBadRequest, "invalid_argument", "message_invalid"},
		{"over 64 KiB", "application/proto", bytes.Repeat([]byte{0x1a, 0x00}, 33<<10), http.StatusTooManyRequests, "resource_exhausted", "message_too_large"},
		{"over 64 KiB JSON", "application/json", []byte(`{"username":"` + strings.Repeat("a", 65<<10) + `"}`), http.StatusTooManyRequests, "resource_exhausted", "message_too_large"},
		// Beyond the hard limit connect-go refuses before the codec runs.
		{"over 256 KiB", "application/proto", bytes.Repeat([]byte{0x1a, 0x00}, 130<<10), http.StatusTooManyRequests, "resource_exhausted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unchanged(t, e, func() {
				status, code, reason := rawPost(t, e, "/sealine.v1.AccountService/Register", tt.contentType, tt.body)
				if status != tt.status || code != tt.wantCode || reason != tt.reason {
					t.Fatalf("got %d %q %q; want %d %q %q", status, code, reason, tt.status, tt.wantCode, tt.reason)
				}
			})
		})
	}
}

func TestBadFields(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	e.Register(t, "frank", "correct horse battery", "", "laptop")
	long := strings.Repeat("a", 129)
	reg := func(user, pw, display string, dev *sealinev1.NewDevice) error {
		_, err := e.Accounts().Register(ctx, connect.NewRequest(&sealinev1.RegisterRequest{Username: user, Password: pw, DisplayName: display, Device: dev}))
		return err
	}
	dev := testenv.NewDevice("laptop")
	tests := []struct {
		name   string
		err    func() error
		code   connect.Code
		reason string
		field  string
	}{
		{"empty username", func() error { return reg("", "correct horse", "", dev) }, connect.CodeInvalidArgument, "username_invalid", "username"},
		{"huge username", func() error { return reg(long, "correct horse", "", dev) }, connect.CodeInvalidArgument, "field_too_long", "username"},
		{"33 characters", func() error { return reg(long[:33], "correct horse", "", dev) }, connect.CodeInvalidArgument, "username_invalid", "username"},
		{"confusable username", func() error { return reg("p\u0430ypal", "correct horse", "", dev) }, connect.CodeInvalidArgument, "username_confusable", "username"},
		{"taken username", func() error { return reg("FRANK", "correct horse", "", dev) }, connect.CodeAlreadyExists, "username_taken", "username"},
		{"short password", func() error { return reg("grace", "short", "", dev) }, connect.CodeInvalidArgument, "password_weak", "password"},
		{"password is the username", func() error { return reg("Grace.Hopper", "grace.hopper", "", dev) }, connect.CodeInvalidArgument, "password_weak", "password"},
		{"huge password", func() error { return reg("grace", strings.Repeat("p", 1025), "", dev) }, connect.CodeInvalidArgument, "field_too_long", "password"},
		{"long display name", func() error { return reg("grace", "correct horse", strings.Repeat("d", 65), dev) }, connect.CodeInvalidArgument, "field_too_long", "display_name"},
		{"bidi display name", func() error { return reg("grace", "correct horse", "a\u202eb", dev) }, connect.CodeInvalidArgument, "field_invalid", "display_name"},
		{"no device", func() error { return reg("grace", "correct horse", "", nil) }, connect.CodeInvalidArgument, "field_invalid", "device"},
		{"empty device name", func() error { return reg("grace", "correct horse", "", testenv.NewDevice("")) }, connect.CodeInvalidArgument, "field_invalid", "device.name"},
		{"short signature key", func() error {
			return reg("grace", "correct horse", "", &sealinev1.NewDevice{Name: "x", SignatureKey: []byte{1, 2}})
		}, connect.CodeInvalidArgument, "field_invalid", "device.signature_key"},
		{"unknown user login", func() error {
			_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: "nobody", Password: "correct horse", Device: dev}))
			return err
		}, connect.CodeUnauthenticated, "bad_credentials", ""},
		{"invalid username login", func() error {
			_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: "no body", Password: "correct horse", Device: dev}))
			return err
		}, connect.CodeUnauthenticated, "bad_credentials", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unchanged(t, e, func() {
				err := tt.err()
				wantErr(t, err, tt.code, tt.reason)
				if f := testenv.Detail(err).GetField(); f != tt.field {
					t.Fatalf("field = %q, want %q", f, tt.field)
				}
			})
		})
	}
}

func TestLockout(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	e.Register(t, "heidi", "correct horse battery", "", "laptop")
	login := func(pw string) error {
		_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: "heidi", Password: pw, Device: testenv.NewDevice("x")}))
		return err
	}
	for i := range 4 {
		wantErr(t, login("wrong password"), connect.CodeUnauthenticated, "bad_credentials")
		_ = i
	}
	err := login("wrong password")
	wantErr(t, err, connect.CodeResourceExhausted, "locked_out")
	// Now even the right password is refused, and nothing is written.
	unchanged(t, e, func() {
		err = login("correct horse battery")
		wantErr(t, err, connect.CodeResourceExhausted, "locked_out")
	})
	retry := testenv.Detail(err).GetRetryAfter().AsTime()
	if d := time.Until(retry); d < 14*time.Minute || d > 16*time.Minute {
		t.Fatalf("retry_after in %v; want about 15 minutes", d)
	}
	e.Clock.Advance(16 * time.Minute)
	if err := login("correct horse battery"); err != nil {
		t.Fatalf("login after the lockout: %v", err)
	}
}

func TestLoginRateLimit(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t, func(c *server.Config) { c.LoginBurst, c.LoginInterval = 2, time.Hour })
	login := func() error {
		_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: "ivan", Password: "whatever1", Device: testenv.NewDevice("x")}))
		return err
	}
	wantErr(t, login(), connect.CodeUnauthenticated, "bad_credentials")
	wantErr(t, login(), connect.CodeUnauthenticated, "bad_credentials")
	err := login()
	wantErr(t, err, connect.CodeResourceExhausted, "rate_limited")
	if testenv.Detail(err).GetRetryAfter() == nil {
		t.Fatal("no retry_after")
	}
}

func TestBadSessions(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	s := e.Register(t, "judy", "correct horse battery", "", "laptop")
	if err := ping(ctx, e, s.GetToken()); err != nil { // the one touch of this minute
		t.Fatal(err)
	}
	unknown := strings.Repeat("A", 43)
	tests := []struct{ name, token string }{
		{"no token", ""},
		{"malformed token", "not a token"},
		{"unknown token", unknown},
		{"token with padding", s.GetToken() + "="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unchanged(t, e, func() {
				wantErr(t, ping(ctx, e, tt.token), connect.CodeUnauthenticated, "session_invalid")
			})
		})
	}
	t.Run("unknown device", func(t *testing.T) {
		unchanged(t, e, func() {
			_, err := e.Devices(s.GetToken()).RevokeDevice(ctx, connect.NewRequest(&sealinev1.RevokeDeviceRequest{DeviceId: "dnothere"}))
			wantErr(t, err, connect.CodeNotFound, "device_not_found")
			_, err = e.Devices(s.GetToken()).RevokeDevice(ctx, connect.NewRequest(&sealinev1.RevokeDeviceRequest{DeviceId: strings.Repeat("d", 65)}))
			wantErr(t, err, connect.CodeInvalidArgument, "field_too_long")
		})
	})
	t.Run("expired token", func(t *testing.T) {
		e.Clock.Advance(31 * 24 * time.Hour)
		wantErr(t, ping(ctx, e, s.GetToken()), connect.CodeUnauthenticated, "session_invalid")
	})
}

// TestConcurrentLockout: parallel wrong passwords lock the account exactly
// as sequential ones do; every answer is bad_credentials or locked_out.
func TestConcurrentLockout(t *testing.T) {
	eachBackend(t, concurrentLockout)
}

func concurrentLockout(t *testing.T, e *testenv.Env) {
	ctx := context.Background()
	e.Register(t, "victor", "correct horse battery", "", "laptop")
	login := func(pw string) error {
		_, err := e.Accounts().Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{Username: "victor", Password: pw, Device: testenv.NewDevice("x")}))
		return err
	}
	errs := make(chan error, 12)
	for range cap(errs) {
		go func() { errs <- login("wrong password") }()
	}
	locked := 0
	for range cap(errs) {
		err := <-errs
		switch testenv.Reason(err) {
		case "locked_out":
			locked++
		case "bad_credentials":
		default:
			t.Errorf("unexpected %v", err)
		}
	}
	if locked == 0 {
		t.Fatal("12 parallel failures did not lock the account")
	}
	wantErr(t, login("correct horse battery"), connect.CodeResourceExhausted, "locked_out")
}
