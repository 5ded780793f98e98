package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// call is one store method applied to an id that may not exist.
type call struct {
	name string
	fn   func(ctx context.Context, s store.Store) error
}

// calls covers every method of Store and KeyStore, each naming the user
// "u-ghost" and the device "d-ghost", which the tests never create.
func calls() []call {
	ghost := newAccount("ghost")
	d, ses := newDevice(ghost.u.ID, "ghost-2", t0)
	return []call{
		{"UserByID", func(ctx context.Context, s store.Store) error { _, err := s.UserByID(ctx, ghost.u.ID); return err }},
		{"UserByUsernameIndex", func(ctx context.Context, s store.Store) error {
			_, err := s.UserByUsernameIndex(ctx, ghost.u.UsernameIndex)
			return err
		}},
		{"SetPasswordHash", func(ctx context.Context, s store.Store) error { return s.SetPasswordHash(ctx, ghost.u.ID, "h") }},
		{"RecordLoginFailure", func(ctx context.Context, s store.Store) error {
			_, _, err := s.RecordLoginFailure(ctx, ghost.u.ID, 3, t0)
			return err
		}},
		{"ResetLoginFailures", func(ctx context.Context, s store.Store) error { return s.ResetLoginFailures(ctx, ghost.u.ID) }},
		{"CreateDevice", func(ctx context.Context, s store.Store) error { return s.CreateDevice(ctx, d, ses) }},
		{"Device", func(ctx context.Context, s store.Store) error {
			_, err := s.Device(ctx, ghost.u.ID, ghost.d.ID)
			return err
		}},
		{"RevokeDevice", func(ctx context.Context, s store.Store) error { return s.RevokeDevice(ctx, ghost.u.ID, ghost.d.ID) }},
		{"TouchDevice", func(ctx context.Context, s store.Store) error { return s.TouchDevice(ctx, ghost.d.ID, t0) }},
		{"ChangePassword", func(ctx context.Context, s store.Store) error {
			_, err := s.ChangePassword(ctx, ghost.u.ID, "h", ghost.d.ID)
			return err
		}},
		{"SessionByTokenHash", func(ctx context.Context, s store.Store) error {
			_, err := s.SessionByTokenHash(ctx, ghost.s.TokenHash, t0)
			return err
		}},
		{"Key", func(ctx context.Context, s store.Store) error { _, err := s.Keys().Key(ctx, ghost.u.ID); return err }},
		{"DeleteKey", func(ctx context.Context, s store.Store) error { return s.Keys().DeleteKey(ctx, ghost.u.ID) }},
	}
}

// testNotFound: every method naming a missing user or device gives
// ErrNotFound.
func testNotFound(t *testing.T, s store.Store) {
	mustCreate(t, s, newAccount("present"))
	for _, c := range calls() {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, c.name, c.fn(t.Context(), s), store.ErrNotFound)
		})
	}
}

func testPingKind(t *testing.T, s store.Store) {
	wantNoErr(t, "Ping", s.Ping(t.Context()))
	if k := s.Kind(); k != "sqlite" && k != "postgres" {
		t.Errorf("Kind = %q, want sqlite or postgres", k)
	}
}

// testClosed: after Close every method gives ErrClosed, and a second Close
// is harmless.
func testClosed(t *testing.T, s store.Store) {
	wantNoErr(t, "Close", s.Close())
	wantNoErr(t, "second Close", s.Close())
	all := append(calls(),
		call{"Ping", func(ctx context.Context, s store.Store) error { return s.Ping(ctx) }},
		call{"CreateUser", func(ctx context.Context, s store.Store) error {
			a := newAccount("late")
			return s.CreateUser(ctx, a.u, a.d, a.s)
		}},
		call{"ListDevices", func(ctx context.Context, s store.Store) error {
			_, err := s.ListDevices(ctx, "u-late")
			return err
		}},
		call{"PutKey", func(ctx context.Context, s store.Store) error {
			return s.Keys().PutKey(ctx, newKey("u-late", "kek"))
		}},
	)
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			wantErr(t, c.name, c.fn(ctx, s), store.ErrClosed)
		})
	}
}
