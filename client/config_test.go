package client

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
)

func TestParseServerURL(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"https://127.0.0.1:8443", "https://127.0.0.1:8443", nil},
		{"https://chat.example.org/", "https://chat.example.org", nil},
		{"http://127.0.0.1:8443", "", ErrInsecureURL},
		{"", "", ErrBadURL},
		{"127.0.0.1:8443", "", ErrBadURL},
		{"ftp://host", "", ErrBadURL},
		{"https://", "", ErrBadURL},
		{"https://:8443", "", ErrBadURL},
		{"https://u:p@host", "", ErrBadURL},
		{"https://host/api", "", ErrBadURL},
		{"https://host?x=1", "", ErrBadURL},
		{"https://host#frag", "", ErrBadURL},
		{"https://ho st", "", ErrBadURL},
		{"://", "", ErrBadURL},
	}
	for _, tt := range tests {
		got, err := ParseServerURL(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("ParseServerURL(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseCA(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"cert", e.ca, true},
		{"empty", nil, false},
		{"garbage", []byte("not a pem file"), false},
		{"key only", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), false},
		{"bad cert body", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), false},
	}
	for _, tt := range tests {
		_, err := ParseCA(tt.in)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadCA)) {
			t.Errorf("%s: ParseCA err = %v", tt.name, err)
		}
	}
	if _, err := New(Config{ServerURL: "https://h", CAPEM: []byte("x")}); !errors.Is(err, ErrBadCA) {
		t.Errorf("New with bad CA = %v, want ErrBadCA", err)
	}
}

// TestNoServerImports checks the SDK's promise: client and its subpackages
// never depend on the server or the store, so a client binary holds no
// server code.
func TestNoServerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput() // client and its subpackages
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const module = "github.com/sealine/sealine/"
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{module + "server", module + "store"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("client depends on %s", dep)
			}
		}
	}
}

func FuzzParseServerURL(f *testing.F) {
	for _, s := range []string{"https://127.0.0.1:8443", "http://x", "https://[::1]:1/", "https://u@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseServerURL(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "https://") {
			t.Fatalf("ParseServerURL(%q) = %q", s, got)
		}
		if again, err := ParseServerURL(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}

func FuzzParseDeviceKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if key, err := parseDeviceKey(raw); err == nil && len(key) != 64 {
			t.Fatalf("parsed key of length %d", len(key))
		}
	})
}

func TestErrorText(t *testing.T) {
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		err  error
		want string
	}{
		{refusal(connect.CodeUnauthenticated, "bad_credentials", time.Time{}), "wrong username or password"},
		{refusal(connect.CodeResourceExhausted, "locked_out", until), "account temporarily locked after failed logins; retry after 2030-01-02T03:04:05Z"},
		{refusal(connect.CodeInvalidArgument, "password_weak", time.Time{}), "password is too weak: password_weak"},
		{refusal(connect.CodeFailedPrecondition, "something_new", time.Time{}), "failed_precondition: something_new"},
	}
	for _, tt := range tests {
		if got := mapError(tt.err).Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestSessionRedacted(t *testing.T) {
	s := Session{Server: "https://h", UserID: "u1", DeviceID: "d1", Token: "SECRET-TOKEN"}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "session", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%v", &s), buf.String()} {
		if strings.Contains(out, "SECRET-TOKEN") || !strings.Contains(out, "d1") {
			t.Errorf("printed session %q leaks the token or lacks the device", out)
		}
	}
}
