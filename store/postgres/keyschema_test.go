package postgres

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/storetest"
)

// keyedDSN returns a fresh data schema's DSN and a key schema name beside
// it, both dropped at cleanup.
func keyedDSN(t *testing.T) (string, string) {
	t.Helper()
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	keys := u.Query().Get("search_path") + "_keys"
	t.Cleanup(func() { admin(t, os.Getenv("SEALINE_TEST_POSTGRES"), "DROP SCHEMA IF EXISTS "+keys+" CASCADE") })
	return dsn, keys
}

// TestConformanceKeySchema runs the suite with the key store in its own schema.
func TestConformanceKeySchema(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		dsn, keys := keyedDSN(t)
		s, err := Open(t.Context(), dsn, Options{KeysSchema: keys})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestKeySchemaHoldsKeys: keys go to the key schema only, and keys left in
// the data schema move there at Open.
func TestKeySchemaHoldsKeys(t *testing.T) {
	ctx := t.Context()
	dsn, keys := keyedDSN(t)
	old := openAt(t, dsn)
	legacy := store.WrappedKey{UserID: "u-legacy", KEKID: "k", Ciphertext: []byte("legacy-key"), CreatedAt: time.Now()}
	if err := old.Keys().PutKey(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s, err := Open(ctx, dsn, Options{SeparateKeys: true}) // names it <data schema>_keys
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var inKeys int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+keys+`.keys_wrapped`).Scan(&inKeys); err != nil || inKeys != 1 {
		t.Fatalf("key schema %s holds %d keys (%v), want the moved one", keys, inKeys, err)
	}
	fresh := store.WrappedKey{UserID: "u-fresh", KEKID: "k", Ciphertext: []byte("fresh-key"), CreatedAt: time.Now()}
	if err := s.Keys().PutKey(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	for _, k := range []store.WrappedKey{legacy, fresh} {
		got, err := s.Keys().Key(ctx, k.UserID)
		if err != nil || !bytes.Equal(got.Ciphertext, k.Ciphertext) {
			t.Fatalf("Key(%s) = %v, %v", k.UserID, got, err)
		}
	}
	var inData int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM keys_wrapped`).Scan(&inData); err != nil || inData != 0 {
		t.Fatalf("data schema holds %d keys (%v), want 0", inData, err)
	}
	if _, err := Open(ctx, dsn, Options{KeysSchema: "Bad-Name"}); !errors.Is(err, ErrBadSchema) {
		t.Fatalf("bad key schema name: %v", err)
	}
}
