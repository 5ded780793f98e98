package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// testCreateDevice: devices list oldest first, whatever the insert order,
// and each new session works.
func testCreateDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newAccount("multi"), newAccount("neighbour")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	d3, s3 := newDevice(a.u.ID, "multi-3", t0.Add(2*time.Second))
	d2, s2 := newDevice(a.u.ID, "multi-2", t0.Add(time.Second))
	mustCreateDevice(t, s, d3, s3)
	mustCreateDevice(t, s, d2, s2)
	devs, err := s.ListDevices(ctx, a.u.ID)
	wantNoErr(t, "ListDevices", err)
	if want := []store.Device{a.d, d2, d3}; !reflect.DeepEqual(devs, want) {
		t.Errorf("ListDevices = %+v, want %+v", devs, want)
	}
	for _, ses := range []store.Session{s2, s3} {
		got, err := s.SessionByTokenHash(ctx, ses.TokenHash, t0)
		wantNoErr(t, "SessionByTokenHash", err)
		if !reflect.DeepEqual(got, ses) {
			t.Errorf("SessionByTokenHash = %+v, want %+v", got, ses)
		}
	}
	devs, err = s.ListDevices(ctx, "u-nobody")
	wantNoErr(t, "ListDevices(unknown user)", err)
	if len(devs) != 0 {
		t.Errorf("ListDevices(unknown user) = %+v, want none", devs)
	}
}

// testCreateDeviceConflict: a taken device id or token hash gives
// ErrConflict and writes neither row; a mismatched session is refused.
func testCreateDeviceConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("conflict")
	mustCreate(t, s, a)
	tests := []struct {
		name string
		edit func(d *store.Device, ses *store.Session)
		want error
	}{
		{"device id", func(d *store.Device, ses *store.Session) { d.ID, ses.DeviceID = a.d.ID, a.d.ID }, store.ErrConflict},
		{"token hash", func(d *store.Device, ses *store.Session) { ses.TokenHash = a.s.TokenHash }, store.ErrConflict},
		{"session of other device", func(d *store.Device, ses *store.Session) { ses.DeviceID = a.d.ID }, nil},
		{"session of other user", func(d *store.Device, ses *store.Session) { ses.UserID = "u-other" }, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ses := newDevice(a.u.ID, "conflict-new-"+string(rune('a'+i)), t0)
			tc.edit(&d, &ses)
			err := s.CreateDevice(ctx, d, ses)
			if tc.want != nil {
				wantErr(t, "CreateDevice", err, tc.want)
			} else if err == nil {
				t.Fatal("CreateDevice succeeded, want an error")
			}
			checkAccount(t, s, a)
			devs, err := s.ListDevices(ctx, a.u.ID)
			wantNoErr(t, "ListDevices", err)
			if len(devs) != 1 {
				t.Errorf("user has %d devices, want 1", len(devs))
			}
			if string(ses.TokenHash) != string(a.s.TokenHash) {
				_, err := s.SessionByTokenHash(ctx, ses.TokenHash, t0)
				wantErr(t, "SessionByTokenHash", err, store.ErrNotFound)
			}
		})
	}
}

// testDeviceOfOtherUser: a user can neither see nor revoke another user's
// device.
func testDeviceOfOtherUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newAccount("owner"), newAccount("intruder")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	_, err := s.Device(ctx, b.u.ID, a.d.ID)
	wantErr(t, "Device", err, store.ErrNotFound)
	wantErr(t, "RevokeDevice", s.RevokeDevice(ctx, b.u.ID, a.d.ID), store.ErrNotFound)
	checkAccount(t, s, a)
}

// testRevokeDevice: revocation deletes the device and its sessions and
// nothing else; a second revocation finds nothing.
func testRevokeDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("revoke")
	mustCreate(t, s, a)
	d2, s2 := newDevice(a.u.ID, "revoke-2", t0.Add(time.Second))
	mustCreateDevice(t, s, d2, s2)
	wantNoErr(t, "RevokeDevice", s.RevokeDevice(ctx, a.u.ID, d2.ID))
	_, err := s.Device(ctx, a.u.ID, d2.ID)
	wantErr(t, "Device(revoked)", err, store.ErrNotFound)
	_, err = s.SessionByTokenHash(ctx, s2.TokenHash, t0)
	wantErr(t, "SessionByTokenHash(revoked)", err, store.ErrNotFound)
	wantErr(t, "RevokeDevice again", s.RevokeDevice(ctx, a.u.ID, d2.ID), store.ErrNotFound)
	wantErr(t, "TouchDevice(revoked)", s.TouchDevice(ctx, d2.ID, t0.Add(time.Hour)), store.ErrNotFound)
	checkAccount(t, s, a)
}

// testTouchDevice: LastSeenAt only moves forward.
func testTouchDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("touch")
	mustCreate(t, s, a)
	steps := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"later", t0.Add(time.Minute), t0.Add(time.Minute)},
		{"earlier", t0.Add(time.Second), t0.Add(time.Minute)},
		{"equal", t0.Add(time.Minute), t0.Add(time.Minute)},
		{"one nanosecond later", t0.Add(time.Minute + 1), t0.Add(time.Minute + 1)},
	}
	for _, st := range steps {
		wantNoErr(t, st.name, s.TouchDevice(ctx, a.d.ID, st.at))
		d, err := s.Device(ctx, a.u.ID, a.d.ID)
		wantNoErr(t, "Device", err)
		if !d.LastSeenAt.Equal(st.want) {
			t.Fatalf("%s: LastSeenAt = %v, want %v", st.name, d.LastSeenAt, st.want)
		}
	}
}

// testChangePassword: the new hash is set and every other device of the
// user, with its sessions, is revoked; other users are untouched.
func testChangePassword(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newAccount("changer"), newAccount("bystander")
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	d2, s2 := newDevice(a.u.ID, "changer-2", t0.Add(time.Second))
	d3, s3 := newDevice(a.u.ID, "changer-3", t0.Add(2*time.Second))
	mustCreateDevice(t, s, d2, s2)
	mustCreateDevice(t, s, d3, s3)

	n, err := s.ChangePassword(ctx, a.u.ID, "$argon2id$changed", d2.ID)
	wantNoErr(t, "ChangePassword", err)
	if n != 2 {
		t.Errorf("ChangePassword revoked %d devices, want 2", n)
	}
	u, err := s.UserByID(ctx, a.u.ID)
	wantNoErr(t, "UserByID", err)
	if u.PasswordHash != "$argon2id$changed" {
		t.Errorf("PasswordHash = %q, want the new hash", u.PasswordHash)
	}
	devs, err := s.ListDevices(ctx, a.u.ID)
	wantNoErr(t, "ListDevices", err)
	if !reflect.DeepEqual(devs, []store.Device{d2}) {
		t.Errorf("ListDevices = %+v, want only the kept device", devs)
	}
	_, err = s.SessionByTokenHash(ctx, s2.TokenHash, t0)
	wantNoErr(t, "kept session", err)
	for _, ses := range []store.Session{a.s, s3} {
		_, err := s.SessionByTokenHash(ctx, ses.TokenHash, t0)
		wantErr(t, "revoked session", err, store.ErrNotFound)
	}
	checkAccount(t, s, b)

	n, err = s.ChangePassword(ctx, a.u.ID, "$argon2id$again", "")
	wantNoErr(t, "ChangePassword keeping none", err)
	if n != 1 {
		t.Errorf("ChangePassword keeping none revoked %d devices, want 1", n)
	}
}
