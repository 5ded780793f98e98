package sframe

import "fmt"

// Config configures a Receiver. Its zero value works.
type Config struct {
	// ReplayWindow is how many counters, counting down from the highest one
	// accepted for a KID, are still accepted (each once). Frames may arrive
	// out of order by up to this many counters. 0 means
	// DefaultReplayWindow; the maximum is MaxReplayWindow.
	ReplayWindow int
}

func (c Config) window() (int, error) {
	switch {
	case c.ReplayWindow == 0:
		return DefaultReplayWindow, nil
	case c.ReplayWindow < 0 || c.ReplayWindow > MaxReplayWindow:
		return 0, fmt.Errorf("sframe: replay window %d not in 1..%d: %w", c.ReplayWindow, MaxReplayWindow, ErrInvalidConfig)
	}
	return c.ReplayWindow, nil
}

// Receiver decrypts frames under the KIDs it holds keys for, with a replay
// window per KID. A Receiver must not be used by two goroutines at once.
type Receiver struct {
	suite  Suite
	params suiteParams
	window int
	keys   map[uint64]*recvKey
	last   *recvKey // the most recently used key, checked before the map
	nonce  [nonceSize]byte
	aad    []byte // scratch: header || metadata
}

// recvKey is the decryption state of one KID.
type recvKey struct {
	kid uint64
	*frameKey
	replay replayWindow
}

// NewReceiver returns a Receiver for suite with no keys.
func NewReceiver(suite Suite, cfg Config) (*Receiver, error) {
	p, err := checkSuite(suite)
	if err != nil {
		return nil, err
	}
	return newReceiver(suite, p, cfg)
}

func newReceiver(suite Suite, p suiteParams, cfg Config) (*Receiver, error) {
	w, err := cfg.window()
	if err != nil {
		return nil, err
	}
	return &Receiver{suite: suite, params: p, window: w, keys: make(map[uint64]*recvKey)}, nil
}

// Suite returns the receiver's cipher suite.
func (r *Receiver) Suite() Suite { return r.suite }

// AddKey installs baseKey for kid, deriving its key and salt once. A KID
// that already has a key is refused (ErrInvalidKey): re-installing a key
// would restart its replay window. Remove the old key first.
func (r *Receiver) AddKey(kid uint64, baseKey []byte) error {
	if _, ok := r.keys[kid]; ok {
		return fmt.Errorf("sframe: kid %d already has a key: %w", kid, ErrInvalidKey)
	}
	k, err := r.newKey(kid, baseKey)
	if err != nil {
		return err
	}
	r.keys[kid] = k
	return nil
}

func (r *Receiver) newKey(kid uint64, baseKey []byte) (*recvKey, error) {
	fk, err := newFrameKey(r.suite, r.params, kid, baseKey)
	if err != nil {
		return nil, fmt.Errorf("sframe: kid %d: %w", kid, err)
	}
	return &recvKey{kid: kid, frameKey: fk, replay: newReplayWindow(r.window)}, nil
}

// RemoveKey forgets the key of kid and reports whether there was one.
func (r *Receiver) RemoveKey(kid uint64) bool {
	if _, ok := r.keys[kid]; !ok {
		return false
	}
	delete(r.keys, kid)
	if r.last != nil && r.last.kid == kid {
		r.last = nil
	}
	return true
}

// HasKey reports whether the receiver holds a key for kid.
func (r *Receiver) HasKey(kid uint64) bool {
	_, ok := r.keys[kid]
	return ok
}

// Decrypt checks and decrypts one SFrame ciphertext, appends the plaintext
// to dst and returns the extended slice (RFC 9605 §4.4.4). metadata must be
// what the sender authenticated. On any error nothing changes: no replay
// window moves and dst's contents are kept. If dst has room for the
// plaintext, Decrypt allocates nothing with the GCM suites (and one
// counter-mode state with the AES-CTR suites, as Sender.Encrypt).
func (r *Receiver) Decrypt(dst, metadata, frame []byte) ([]byte, error) {
	h, n, err := ParseHeader(frame)
	if err != nil {
		return nil, err
	}
	k := r.lookup(h.KID)
	if k == nil {
		return nil, fmt.Errorf("sframe: kid %d: %w", h.KID, ErrUnknownKID)
	}
	out, err := r.open(k, dst, metadata, frame, h, n)
	if err != nil {
		return nil, err
	}
	r.last = k
	return out, nil
}

func (r *Receiver) lookup(kid uint64) *recvKey {
	if r.last != nil && r.last.kid == kid {
		return r.last
	}
	return r.keys[kid]
}

// open checks the frame against k's replay window, then its tag, and only
// then records its counter. n is the header's length.
func (r *Receiver) open(k *recvKey, dst, metadata, frame []byte, h Header, n int) ([]byte, error) {
	if len(frame)-n < k.tag {
		return nil, fmt.Errorf("sframe: kid %d: %d bytes after header: %w", h.KID, len(frame)-n, ErrShortFrame)
	}
	if err := k.replay.check(h.CTR); err != nil {
		return nil, fmt.Errorf("sframe: kid %d: %w", h.KID, err)
	}
	aad := frame[:n]
	if len(metadata) > 0 {
		r.aad = append(append(r.aad[:0], aad...), metadata...)
		aad = r.aad
	}
	k.nonce(&r.nonce, h.CTR)
	out, err := k.aead.Open(dst, r.nonce[:], frame[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("sframe: kid %d ctr %d: %w", h.KID, h.CTR, ErrAuth)
	}
	k.replay.accept(h.CTR)
	return out, nil
}
