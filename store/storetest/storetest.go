// Package storetest is the one conformance suite every store.Store backend
// runs, in a one-line test:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, openTest) }
//
// It checks each method of store.Store and store.KeyStore against the
// contract in package store: round trips (times to the nanosecond), every
// sentinel error, atomicity (a CreateUser that conflicts writes no device or
// session), session expiry, revocation, and races run by parallel
// goroutines (concurrent login failures all counted, exactly one winner of
// a contested username index, key or revocation). On PostgreSQL those
// goroutines use separate pooled connections, so the races are real;
// RunNodes runs the same races spread over several stores on one database,
// as several server nodes would.
package storetest

import (
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// Opener returns a fresh, empty, migrated store for one test; it registers
// its own cleanup. The suite may Close the store itself, so a second Close
// must be harmless.
type Opener func(t *testing.T) store.Store

// Run runs the conformance suite against the backend that open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateUser", testCreateUser},
		{"CreateUserConflict", testCreateUserConflict},
		{"CreateUserMismatch", testCreateUserMismatch},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"NotFound", testNotFound},
		{"SetPasswordHash", testSetPasswordHash},
		{"LoginFailures", testLoginFailures},
		{"CreateDevice", testCreateDevice},
		{"CreateDeviceConflict", testCreateDeviceConflict},
		{"DeviceOfOtherUser", testDeviceOfOtherUser},
		{"RevokeDevice", testRevokeDevice},
		{"TouchDevice", testTouchDevice},
		{"ChangePassword", testChangePassword},
		{"SessionExpiry", testSessionExpiry},
		{"Keys", testKeys},
		{"PingKind", testPingKind},
		{"Closed", testClosed},
	}
	for _, tc := range slices.Concat(tests, messagingTests, lifecycleTests) {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	for _, tc := range slices.Concat(concurrent, messagingRaces, lifecycleRaces) {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, []store.Store{open(t)}) })
	}
}

// NodesOpener returns n stores sharing one fresh, empty, migrated database,
// as n server nodes would; it registers its own cleanup.
type NodesOpener func(t *testing.T, n int) []store.Store

// RunNodes runs the race cases with their goroutines spread over several
// stores sharing one database, so that no in-process lock (SQLite's single
// writer connection, a pool) can hide a race that several nodes would hit:
//
//	func TestNodes(t *testing.T) { storetest.RunNodes(t, openNodes) }
func RunNodes(t *testing.T, open NodesOpener) {
	for _, tc := range slices.Concat(concurrent, messagingRaces, lifecycleRaces) {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t, 3)) })
	}
}

// t0 is the suite's clock; nanoseconds check exact round trips.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)

// account is a user with its first device and session.
type account struct {
	u store.User
	d store.Device
	s store.Session
}

// newAccount makes an account whose ids, index and token derive from name.
func newAccount(name string) account {
	u := store.User{
		ID:             "u-" + name,
		UsernameIndex:  []byte("index-" + name),
		UsernameEnc:    []byte("sealed-username-" + name),
		DisplayNameEnc: []byte("sealed-display-" + name),
		PasswordHash:   "$argon2id$v=19$m=65536,t=3,p=4$" + name,
		CreatedAt:      t0,
	}
	d, s := newDevice(u.ID, name+"-1", t0)
	return account{u: u, d: d, s: s}
}

// newDevice makes a device of userID and its session.
func newDevice(userID, name string, created time.Time) (store.Device, store.Session) {
	d := store.Device{
		ID:           "d-" + name,
		UserID:       userID,
		NameEnc:      []byte("sealed-device-" + name),
		SignatureKey: sum("signature-key-" + name),
		CreatedAt:    created,
		LastSeenAt:   created,
	}
	s := store.Session{
		TokenHash: sum("token-" + name),
		UserID:    userID,
		DeviceID:  d.ID,
		CreatedAt: created,
		ExpiresAt: created.Add(24 * time.Hour),
	}
	return d, s
}

// sum returns SHA-256 of s: 32 bytes, like a key or a token hash.
func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func mustCreate(t *testing.T, s store.Store, a account) {
	t.Helper()
	if err := s.CreateUser(t.Context(), a.u, a.d, a.s); err != nil {
		t.Fatalf("CreateUser(%s): %v", a.u.ID, err)
	}
}

func mustCreateDevice(t *testing.T, s store.Store, d store.Device, ses store.Session) {
	t.Helper()
	if err := s.CreateDevice(t.Context(), d, ses); err != nil {
		t.Fatalf("CreateDevice(%s): %v", d.ID, err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func wantNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// parallel runs fn(0..n-1) in n goroutines released together and returns
// their errors by index.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// count returns how many errs are nil and how many match target.
func count(errs []error, target error) (ok, matched int) {
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, target):
			matched++
		}
	}
	return ok, matched
}
