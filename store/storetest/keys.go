package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

func newKey(userID, kek string) store.WrappedKey {
	return store.WrappedKey{
		UserID:     userID,
		KEKID:      kek,
		Ciphertext: sum("wrapped-key-" + userID + "-" + kek),
		CreatedAt:  t0,
	}
}

// testKeys walks a key's life: put, a refused second put, delete
// (crypto-shredding), a second delete finding nothing, and a new key.
func testKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	ks := s.Keys()
	k1, k2 := newKey("u-keyed", "kek-1"), newKey("u-keyed", "kek-2")
	k2.CreatedAt = t0.Add(time.Hour)
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		wantKey *store.WrappedKey // nil: Key must give ErrNotFound
	}{
		{"missing", func() error { return nil }, nil, nil},
		{"put", func() error { return ks.PutKey(ctx, k1) }, nil, &k1},
		{"put again", func() error { return ks.PutKey(ctx, k2) }, store.ErrConflict, &k1},
		{"delete", func() error { return ks.DeleteKey(ctx, k1.UserID) }, nil, nil},
		{"delete again", func() error { return ks.DeleteKey(ctx, k1.UserID) }, store.ErrNotFound, nil},
		{"put new", func() error { return ks.PutKey(ctx, k2) }, nil, &k2},
	}
	for _, st := range steps {
		err := st.do()
		if st.wantErr != nil {
			wantErr(t, st.name, err, st.wantErr)
		} else {
			wantNoErr(t, st.name, err)
		}
		got, err := ks.Key(ctx, k1.UserID)
		if st.wantKey == nil {
			wantErr(t, st.name+": Key", err, store.ErrNotFound)
			continue
		}
		wantNoErr(t, st.name+": Key", err)
		if !reflect.DeepEqual(got, *st.wantKey) {
			t.Fatalf("%s: Key = %+v, want %+v", st.name, got, *st.wantKey)
		}
	}
}
