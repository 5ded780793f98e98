package storetest

import (
	"testing"

	"github.com/sealine/sealine/store"
)

// testKeyRotation: keys are listed by KEK, rewrapped only from the KEK
// they are wrapped by, and counted.
func testKeyRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	ks := s.Keys()
	for _, u := range []string{"u-r1", "u-r2", "u-r3"} {
		wantNoErr(t, "PutKey", ks.PutKey(ctx, newKey(u, "kek-old")))
	}
	wantNoErr(t, "PutKey", ks.PutKey(ctx, newKey("u-r0", "kek-new")))
	old, err := ks.KeysNotWrappedBy(ctx, "kek-new", 2)
	wantNoErr(t, "KeysNotWrappedBy", err)
	if len(old) != 2 || old[0].UserID != "u-r1" || old[1].UserID != "u-r2" || old[0].KEKID != "kek-old" {
		t.Fatalf("KeysNotWrappedBy = %+v", old)
	}
	next := store.Rewrap{Key: store.WrappedKey{UserID: "u-r1", KEKID: "kek-new", Ciphertext: []byte("rewrapped")}, OldKEKID: "kek-old"}
	ghost := store.Rewrap{Key: store.WrappedKey{UserID: "u-ghost", KEKID: "kek-new"}, OldKEKID: "kek-old"}
	for _, tc := range []struct {
		name  string
		batch []store.Rewrap
		want  int64
	}{
		{"Rewrap", []store.Rewrap{next}, 1},
		{"Rewrap twice", []store.Rewrap{next}, 0},
		{"Rewrap a ghost", []store.Rewrap{ghost}, 0},
		{"Rewrap nothing", nil, 0},
	} {
		n, err := ks.Rewrap(ctx, tc.batch)
		wantNoErr(t, tc.name, err)
		if n != tc.want {
			t.Fatalf("%s replaced %d, want %d", tc.name, n, tc.want)
		}
	}
	got, err := ks.Key(ctx, "u-r1")
	wantNoErr(t, "Key", err)
	if got.KEKID != "kek-new" || string(got.Ciphertext) != "rewrapped" {
		t.Fatalf("Key after Rewrap = %+v", got)
	}
	total, by, err := ks.CountKeys(ctx, "kek-new")
	wantNoErr(t, "CountKeys", err)
	if total != 4 || by != 2 {
		t.Fatalf("CountKeys = %d, %d; want 4, 2", total, by)
	}
}
