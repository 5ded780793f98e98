package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// testSessionExpiry: a session is found until the instant it expires and
// not after; an unknown token is not found.
func testSessionExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("expiry")
	mustCreate(t, s, a)
	exp := a.s.ExpiresAt
	tests := []struct {
		name  string
		token []byte
		now   time.Time
		want  error
	}{
		{"long before", a.s.TokenHash, t0, nil},
		{"just before", a.s.TokenHash, exp.Add(-1), nil},
		{"at expiry", a.s.TokenHash, exp, nil},
		{"just after", a.s.TokenHash, exp.Add(1), store.ErrNotFound},
		{"long after", a.s.TokenHash, exp.Add(365 * 24 * time.Hour), store.ErrNotFound},
		{"unknown token", sum("no such token"), t0, store.ErrNotFound},
		{"empty token", nil, t0, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SessionByTokenHash(ctx, tc.token, tc.now)
			if tc.want != nil {
				wantErr(t, "SessionByTokenHash", err, tc.want)
				return
			}
			wantNoErr(t, "SessionByTokenHash", err)
			if !reflect.DeepEqual(got, a.s) {
				t.Errorf("SessionByTokenHash = %+v, want %+v", got, a.s)
			}
		})
	}
}
