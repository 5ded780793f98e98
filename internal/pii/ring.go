package pii

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/sealine/sealine/store"
)

// Key rotation and the versioned blind-index key.
//
// A server knows one or two KEKs: the current one in the KEK file, and,
// while a rotation runs, the next one in "<KEK file>.next". The next KEK,
// when present, wraps every new data key; both unwrap. A rotation rewraps
// every stored key under the next KEK, then renames the KEK file to
// "<KEK file>.retired-<id>" and the next file to the KEK file.
//
// The blind-index key does not change with the KEK: it is kept in the key
// store, wrapped like a data key under the reserved id IndexKeyOwner, so a
// KEK rotation rewraps it with the rest and no username or contact index
// has to be recomputed. Its version, IndexKeyID, is
// "idx:" + hex(SHA-256("sealine/v1/index/id" || key)[:8]) and is recorded
// beside each contact's blind index. The first key kept is the one older
// versions derived from the KEK, so existing indexes stay valid.

// IndexKeyOwner is the reserved key-store id of the blind-index key. User
// ids are "u" + hex, so it never names a user.
const IndexKeyOwner = "sealine/v1/blind-index-key"

const labelIndexID = "sealine/v1/index/id"

// NextSuffix and RetiredSuffix name the rotation's KEK files.
const (
	NextSuffix    = ".next"
	RetiredSuffix = ".retired-"
)

// Ring is the KEKs a server knows and its blind-index key.
type Ring struct {
	primary *Keyring
	all     map[string]*Keyring
	index   [keySize]byte
	indexID string
}

// String hides the keys.
func (*Ring) String() string { return "[redacted]" }

// NewRing makes a ring whose primary wraps new keys; every keyring given
// unwraps. The blind-index key is the primary's derived one until
// LoadIndexKey replaces it.
func NewRing(primary *Keyring, others ...*Keyring) *Ring {
	g := &Ring{primary: primary, all: map[string]*Keyring{primary.id: primary}}
	for _, k := range others {
		g.all[k.id] = k
	}
	g.setIndex(primary.index)
	return g
}

func (g *Ring) setIndex(k [keySize]byte) {
	g.index = k
	sum := sha256.Sum256(append([]byte(labelIndexID), k[:]...))
	g.indexID = "idx:" + hex.EncodeToString(sum[:8])
}

// Primary is the keyring that wraps new keys.
func (g *Ring) Primary() *Keyring { return g.primary }

// Knows reports whether the ring holds the KEK named kekID.
func (g *Ring) Knows(kekID string) bool { return g.all[kekID] != nil }

// WithIndexOf returns a copy of g using other's blind-index key.
func (g *Ring) WithIndexOf(other *Ring) *Ring {
	cp := *g
	cp.setIndex(other.index)
	return &cp
}

// Unwrap opens a stored key with the KEK that wrapped it.
func (g *Ring) Unwrap(k store.WrappedKey) (DataKey, error) {
	r := g.all[k.KEKID]
	if r == nil {
		return DataKey{}, ErrUnknownKEK
	}
	return r.Unwrap(k.Ciphertext, k.UserID, k.KEKID)
}

// DataKey loads and unwraps userID's data key; ErrKeyDestroyed when it
// was deleted.
func (g *Ring) DataKey(ctx context.Context, ks store.KeyStore, userID string) (DataKey, error) {
	k, err := ks.Key(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return DataKey{}, ErrKeyDestroyed
	}
	if err != nil {
		return DataKey{}, fmt.Errorf("pii: load data key: %w", err)
	}
	return g.Unwrap(k)
}

// CreateDataKey draws and stores a data key wrapped by the primary.
func (g *Ring) CreateDataKey(ctx context.Context, ks store.KeyStore, userID string, now time.Time, rand io.Reader) (DataKey, error) {
	return g.primary.CreateDataKey(ctx, ks, userID, now, rand)
}

// BlindIndex is the keyed blind index of a normalised username.
func (g *Ring) BlindIndex(normalised string) []byte {
	return index(g.index[:], labelIndex, normalised)
}

// ContactIndex is the keyed blind index of a normalised contact value.
func (g *Ring) ContactIndex(kind, normalised string) []byte {
	return index(g.index[:], labelContact+kind, normalised)
}

// IndexKeyID names the blind-index key's version.
func (g *Ring) IndexKeyID() string { return g.indexID }

func index(key []byte, label, value string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// LoadIndexKey makes the blind-index key the one kept in ks, first keeping
// the current one there (wrapped by the primary) when ks has none. Nodes
// starting together agree: the first PutKey wins and the others read it.
func (g *Ring) LoadIndexKey(ctx context.Context, ks store.KeyStore, now time.Time, rand io.Reader) error {
	dk, err := g.DataKey(ctx, ks, IndexKeyOwner)
	if errors.Is(err, ErrKeyDestroyed) {
		dk, err = g.keepIndexKey(ctx, ks, now, rand)
	}
	if err != nil {
		return fmt.Errorf("pii: blind-index key: %w", err)
	}
	g.setIndex(dk.k)
	return nil
}

func (g *Ring) keepIndexKey(ctx context.Context, ks store.KeyStore, now time.Time, rand io.Reader) (DataKey, error) {
	cur := DataKey{k: g.index}
	wrapped, err := g.primary.Wrap(cur, IndexKeyOwner, rand)
	if err != nil {
		return DataKey{}, err
	}
	err = ks.PutKey(ctx, store.WrappedKey{UserID: IndexKeyOwner, KEKID: g.primary.id, Ciphertext: wrapped, CreatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		return g.DataKey(ctx, ks, IndexKeyOwner)
	}
	return cur, err
}

// LoadRing reads the KEK file at path and, when present, path+NextSuffix,
// which then is the primary. With create, a missing KEK file is created
// (first start); without, it is an error.
func LoadRing(path string, create bool, rand io.Reader) (*Ring, error) {
	next, err := LoadKEK(path + NextSuffix)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var cur *Keyring
	switch {
	case create && next == nil:
		cur, err = LoadOrCreateKEK(path, rand)
	default:
		cur, err = LoadKEK(path)
		if errors.Is(err, fs.ErrNotExist) && next != nil {
			return NewRing(next), nil // a rotation stopped between its renames
		}
	}
	if err != nil {
		return nil, err
	}
	if next == nil {
		return NewRing(cur), nil
	}
	return NewRing(next, cur), nil
}

// CreateNextKEK writes a fresh KEK to path+NextSuffix (mode 0600) unless
// one is there, and returns the ring of both KEKs. The current KEK file
// must exist, so a rotation never starts from a missing key.
func CreateNextKEK(path string, rand io.Reader) (*Ring, error) {
	if _, err := LoadKEK(path); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path + NextSuffix); errors.Is(err, fs.ErrNotExist) {
		if _, err := createKEK(path+NextSuffix, rand); err != nil {
			return nil, err
		}
	}
	return LoadRing(path, false, rand)
}

// RetireKEK renames the KEK file to path+RetiredSuffix+<id> and the next
// KEK file to path; it returns the retired file. Run it only once no
// stored key is wrapped by the retired KEK.
func RetireKEK(path string) (string, error) {
	cur, err := LoadKEK(path)
	if err != nil {
		return "", err
	}
	retired := path + RetiredSuffix + cur.id[len("v1:"):]
	if err := os.Rename(path, retired); err != nil {
		return "", fmt.Errorf("pii: retire KEK: %w", err)
	}
	if err := os.Rename(path+NextSuffix, path); err != nil {
		return "", fmt.Errorf("pii: promote next KEK: %w", err)
	}
	return retired, nil
}
