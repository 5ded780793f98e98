package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

func testCreateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("alice")
	mustCreate(t, s, a)
	checkAccount(t, s, a)
	devs, err := s.ListDevices(ctx, a.u.ID)
	wantNoErr(t, "ListDevices", err)
	if !reflect.DeepEqual(devs, []store.Device{a.d}) {
		t.Errorf("ListDevices = %+v, want [%+v]", devs, a.d)
	}
}

// checkAccount asserts that a's user, device and session read back as written.
func checkAccount(t *testing.T, s store.Store, a account) {
	t.Helper()
	ctx := t.Context()
	u, err := s.UserByID(ctx, a.u.ID)
	wantNoErr(t, "UserByID", err)
	if !reflect.DeepEqual(u, a.u) {
		t.Errorf("UserByID = %+v, want %+v", u, a.u)
	}
	u, err = s.UserByUsernameIndex(ctx, a.u.UsernameIndex)
	wantNoErr(t, "UserByUsernameIndex", err)
	if !reflect.DeepEqual(u, a.u) {
		t.Errorf("UserByUsernameIndex = %+v, want %+v", u, a.u)
	}
	d, err := s.Device(ctx, a.u.ID, a.d.ID)
	wantNoErr(t, "Device", err)
	if !reflect.DeepEqual(d, a.d) {
		t.Errorf("Device = %+v, want %+v", d, a.d)
	}
	ses, err := s.SessionByTokenHash(ctx, a.s.TokenHash, t0)
	wantNoErr(t, "SessionByTokenHash", err)
	if !reflect.DeepEqual(ses, a.s) {
		t.Errorf("SessionByTokenHash = %+v, want %+v", ses, a.s)
	}
}

// testCreateUserConflict: a taken unique value gives ErrConflict and the
// losing call writes nothing, neither user nor device nor session.
func testCreateUserConflict(t *testing.T, s store.Store) {
	tests := []struct {
		name  string
		clash func(a account, b *account)
	}{
		{"username index", func(a account, b *account) { b.u.UsernameIndex = a.u.UsernameIndex }},
		{"user id", func(a account, b *account) {
			b.u.ID, b.d.UserID, b.s.UserID = a.u.ID, a.u.ID, a.u.ID
		}},
		{"device id", func(a account, b *account) { b.d.ID, b.s.DeviceID = a.d.ID, a.d.ID }},
		{"token hash", func(a account, b *account) { b.s.TokenHash = a.s.TokenHash }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			a, b := newAccount(string(rune('a'+i))+"-first"), newAccount(string(rune('a'+i))+"-second")
			mustCreate(t, s, a)
			tc.clash(a, &b)
			wantErr(t, "CreateUser", s.CreateUser(ctx, b.u, b.d, b.s), store.ErrConflict)
			checkAccount(t, s, a)
			checkNothingOf(t, s, a, b)
		})
	}
}

// checkNothingOf asserts that none of b's records that differ from a's exist.
func checkNothingOf(t *testing.T, s store.Store, a, b account) {
	t.Helper()
	ctx := t.Context()
	if b.u.ID != a.u.ID {
		_, err := s.UserByID(ctx, b.u.ID)
		wantErr(t, "UserByID(loser)", err, store.ErrNotFound)
	}
	if string(b.u.UsernameIndex) != string(a.u.UsernameIndex) {
		_, err := s.UserByUsernameIndex(ctx, b.u.UsernameIndex)
		wantErr(t, "UserByUsernameIndex(loser)", err, store.ErrNotFound)
	}
	_, err := s.Device(ctx, b.u.ID, b.d.ID)
	wantErr(t, "Device(loser)", err, store.ErrNotFound)
	if string(b.s.TokenHash) != string(a.s.TokenHash) {
		_, err := s.SessionByTokenHash(ctx, b.s.TokenHash, t0)
		wantErr(t, "SessionByTokenHash(loser)", err, store.ErrNotFound)
	}
	devs, err := s.ListDevices(ctx, a.u.ID)
	wantNoErr(t, "ListDevices", err)
	if len(devs) != 1 {
		t.Errorf("winner has %d devices, want 1", len(devs))
	}
}

// testCreateUserMismatch: a device or session of another user is refused
// and nothing is written.
func testCreateUserMismatch(t *testing.T, s store.Store) {
	tests := []struct {
		name  string
		spoil func(a *account)
	}{
		{"device of other user", func(a *account) { a.d.UserID = "u-other" }},
		{"session of other device", func(a *account) { a.s.DeviceID = "d-other" }},
		{"session of other user", func(a *account) { a.s.UserID = "u-other" }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			a := newAccount(string(rune('a' + i)))
			tc.spoil(&a)
			if err := s.CreateUser(ctx, a.u, a.d, a.s); err == nil {
				t.Fatal("CreateUser succeeded, want an error")
			}
			_, err := s.UserByID(ctx, a.u.ID)
			wantErr(t, "UserByID", err, store.ErrNotFound)
			_, err = s.SessionByTokenHash(ctx, a.s.TokenHash, t0)
			wantErr(t, "SessionByTokenHash", err, store.ErrNotFound)
		})
	}
}

// testTimeRoundTrip: any location reads back as the same instant in UTC,
// to the nanosecond; empty personal fields read back empty.
func testTimeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("tokyo")
	a.u.CreatedAt = time.Date(2027, 12, 31, 23, 59, 59, 999999999, time.FixedZone("JST", 9*3600))
	a.u.DisplayNameEnc = nil
	mustCreate(t, s, a)
	u, err := s.UserByID(ctx, a.u.ID)
	wantNoErr(t, "UserByID", err)
	if !u.CreatedAt.Equal(a.u.CreatedAt) || u.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", u.CreatedAt, a.u.CreatedAt)
	}
	if !u.LockedUntil.IsZero() {
		t.Errorf("LockedUntil = %v, want zero", u.LockedUntil)
	}
	if len(u.DisplayNameEnc) != 0 {
		t.Errorf("DisplayNameEnc = %x, want empty", u.DisplayNameEnc)
	}
}

func testSetPasswordHash(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("hash")
	mustCreate(t, s, a)
	wantNoErr(t, "SetPasswordHash", s.SetPasswordHash(ctx, a.u.ID, "$argon2id$new"))
	u, err := s.UserByID(ctx, a.u.ID)
	wantNoErr(t, "UserByID", err)
	if u.PasswordHash != "$argon2id$new" {
		t.Errorf("PasswordHash = %q, want the new hash", u.PasswordHash)
	}
}

// testLoginFailures walks the lockout: the failure that reaches max locks,
// later ones extend the lock, a reset clears both, and max <= 0 never locks.
func testLoginFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("failures")
	mustCreate(t, s, a)
	lock1, lock2 := t0.Add(15*time.Minute), t0.Add(30*time.Minute)
	steps := []struct {
		name       string
		reset      bool
		max        int
		lockUntil  time.Time
		wantCount  int
		wantLocked time.Time
	}{
		{name: "first", max: 3, lockUntil: lock1, wantCount: 1},
		{name: "second", max: 3, lockUntil: lock1, wantCount: 2},
		{name: "reaches max", max: 3, lockUntil: lock1, wantCount: 3, wantLocked: lock1},
		{name: "past max extends", max: 3, lockUntil: lock2, wantCount: 4, wantLocked: lock2},
		{name: "reset", reset: true},
		{name: "after reset", max: 3, lockUntil: lock1, wantCount: 1},
		{name: "max zero", max: 0, lockUntil: lock1, wantCount: 2},
		{name: "max negative", max: -1, lockUntil: lock1, wantCount: 3},
	}
	for _, st := range steps {
		if st.reset {
			wantNoErr(t, "ResetLoginFailures", s.ResetLoginFailures(ctx, a.u.ID))
		} else {
			n, until, err := s.RecordLoginFailure(ctx, a.u.ID, st.max, st.lockUntil)
			wantNoErr(t, st.name, err)
			if n != st.wantCount || !until.Equal(st.wantLocked) {
				t.Fatalf("%s: RecordLoginFailure = %d, %v; want %d, %v", st.name, n, until, st.wantCount, st.wantLocked)
			}
		}
		u, err := s.UserByID(ctx, a.u.ID)
		wantNoErr(t, "UserByID", err)
		if u.FailedLogins != st.wantCount || !u.LockedUntil.Equal(st.wantLocked) {
			t.Fatalf("%s: user has %d failures, locked until %v; want %d, %v",
				st.name, u.FailedLogins, u.LockedUntil, st.wantCount, st.wantLocked)
		}
	}
}
