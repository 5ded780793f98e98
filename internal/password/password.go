// Package password hashes and verifies passwords with Argon2id (RFC 9106).
//
// A hash is stored in the PHC string format, with its parameters inside, so
// that parameters can change without breaking stored hashes:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// salt and hash are unpadded standard base64. Decode is strict: it accepts
// exactly this layout, version 19, and bounded parameters (see Limits), so a
// corrupted or hostile stored value cannot make the server allocate without
// bound. Verify compares in constant time.
//
// Argon2id is expensive on purpose (tens of milliseconds and tens of MiB per
// hash), which makes it a denial-of-service lever: a Hasher bounds how many
// hashes run at once, and callers rate-limit before hashing.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Sentinel errors that callers branch on.
var (
	// ErrMalformed: a stored hash does not decode.
	ErrMalformed = errors.New("password: malformed hash")
	// ErrMismatch: the password does not match the hash.
	ErrMismatch = errors.New("password: mismatch")
)

// Params are Argon2id cost parameters.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
	SaltLen   uint32 // bytes
	KeyLen    uint32 // bytes of hash output
}

// DefaultParams costs about 50-100 ms of CPU per hash on a 2-core server
// (see BenchmarkHashDefault).
func DefaultParams() Params {
	return Params{Time: 2, MemoryKiB: 64 << 10, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Limits bound what Decode accepts.
const (
	maxTime      = 64
	maxMemoryKiB = 4 << 20 // 4 GiB
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
)

// Config configures a Hasher; the zero value works.
type Config struct {
	Params        Params    // zero = DefaultParams()
	MaxConcurrent int       // hashes running at once; zero = 2
	Rand          io.Reader // nil = crypto/rand
	// Observe, if set, receives the duration of each Argon2id run (not
	// counting the wait for a slot), e.g. for a metric.
	Observe func(time.Duration)
}

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	params  Params
	sem     chan struct{}
	rand    io.Reader
	observe func(time.Duration)
}

// New returns a Hasher for cfg.
func New(cfg Config) *Hasher {
	h := &Hasher{params: cfg.Params, rand: cfg.Rand, observe: cfg.Observe}
	if h.params == (Params{}) {
		h.params = DefaultParams()
	}
	if h.rand == nil {
		h.rand = rand.Reader
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = 2
	}
	h.sem = make(chan struct{}, n)
	return h
}

// Params returns the parameters new hashes use.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the encoded Argon2id hash of password with a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password []byte) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.rand, salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return Encode(h.params, salt, key), nil
}

// Verify checks password against encoded. It returns nil on a match,
// ErrMismatch, ErrMalformed or a context error.
func (h *Hasher) Verify(ctx context.Context, password []byte, encoded string) error {
	p, salt, want, err := Decode(encoded)
	if err != nil {
		return err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// Burn spends the cost of one Verify at the current parameters and always
// fails with ErrMismatch. Use it for unknown users, so that a login for an
// unknown user costs as much as a wrong password for a known one.
func (h *Hasher) Burn(ctx context.Context, password []byte) error {
	salt := make([]byte, h.params.SaltLen)
	if _, err := h.derive(ctx, password, salt, h.params); err != nil {
		return err
	}
	return ErrMismatch
}

// NeedsRehash reports whether encoded was made with other parameters than
// the Hasher's (or does not decode).
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := Decode(encoded)
	return err != nil || p != h.params
}

// derive runs Argon2id while holding one slot of the semaphore.
func (h *Hasher) derive(ctx context.Context, password, salt []byte, p Params) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("password: waiting to hash: %w", ctx.Err())
	}
	defer func() { <-h.sem }()
	start := time.Now()
	key := argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	if h.observe != nil {
		h.observe(time.Since(start))
	}
	return key, nil
}

// Encode formats a hash in the PHC string format.
func Encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Decode parses an encoded hash strictly. SaltLen and KeyLen of the returned
// Params are the decoded lengths.
func Decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return Params{}, nil, nil, fmt.Errorf("%w: layout", ErrMalformed)
	}
	p, err := decodeParams(parts[3])
	if err != nil {
		return Params{}, nil, nil, err
	}
	salt, err := decodeB64(parts[4], minSaltLen, maxSaltLen)
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("salt: %w", err)
	}
	key, err := decodeB64(parts[5], minKeyLen, maxKeyLen)
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("hash: %w", err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// decodeParams parses "m=<KiB>,t=<passes>,p=<lanes>" in exactly that order.
func decodeParams(s string) (Params, error) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return Params{}, fmt.Errorf("%w: parameters", ErrMalformed)
	}
	m, err1 := decodeUint(fields[0], "m=", maxMemoryKiB)
	t, err2 := decodeUint(fields[1], "t=", maxTime)
	l, err3 := decodeUint(fields[2], "p=", 255)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Params{}, err
	}
	if m < 8*l {
		return Params{}, fmt.Errorf("%w: memory below 8 KiB per lane", ErrMalformed)
	}
	return Params{Time: uint32(t), MemoryKiB: uint32(m), Threads: uint8(l)}, nil
}

// decodeUint parses prefix followed by a canonical decimal in 1..max.
func decodeUint(s, prefix string, max uint64) (uint64, error) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 || digits[0] == '0' {
		return 0, fmt.Errorf("%w: parameter %q", ErrMalformed, prefix)
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("%w: parameter %q", ErrMalformed, prefix)
	}
	return v, nil
}

// decodeB64 decodes canonical unpadded base64 of min..max bytes.
func decodeB64(s string, min, max int) ([]byte, error) {
	enc := base64.RawStdEncoding.Strict()
	if len(s) > enc.EncodedLen(max) {
		return nil, fmt.Errorf("%w: too long", ErrMalformed)
	}
	b, err := enc.DecodeString(s)
	// The decoder skips '\r' and '\n'; re-encoding catches them.
	if err != nil || len(b) < min || enc.EncodeToString(b) != s {
		return nil, fmt.Errorf("%w: base64", ErrMalformed)
	}
	return b, nil
}
