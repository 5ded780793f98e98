package mls

import (
	"fmt"
)

// The secret tree (RFC 9420, Section 9) derives, from the epoch's
// encryption_secret, one handshake and one application hash ratchet per
// leaf. Interior secrets are deleted as soon as both children are
// derived, and each ratchet secret as soon as the next one is, so a later
// compromise does not reveal keys already used (forward secrecy).
//
// Receiving is bounded: a generation more than maxJump ahead of a
// ratchet is refused (so a forged header cannot make us hash millions of
// times), and keys skipped over are kept for at most window generations
// behind the newest one. A generation already used, or skipped and
// since consumed, yields ErrReplay.

// ratchetKind selects a leaf's handshake or application ratchet.
type ratchetKind uint8

const (
	handshakeRatchet ratchetKind = iota
	applicationRatchet
)

// Default receive bounds of a hash ratchet.
const (
	DefaultMaxForwardJump   = 1024
	DefaultOutOfOrderWindow = 64
)

// keyNonce is one generation's AEAD key and nonce.
type keyNonce struct {
	generation uint32
	key, nonce secret
}

// hashRatchet is the state of one sender ratchet.
type hashRatchet struct {
	next    uint32 // generation that secret is the ratchet secret of
	secret  secret
	skipped map[uint32]keyNonce // unused keys of generations < next
}

// secretTree holds an epoch's secret tree and the ratchets derived so
// far.
type secretTree struct {
	s        *suite
	leaves   uint32
	nodes    []secret // by node index; nil once consumed or not yet derived
	ratchets map[LeafIndex]*[2]hashRatchet
	maxJump  uint32
	window   uint32
}

// newSecretTree starts a secret tree of leaves leaves from the
// encryption secret. Zero limits take the defaults.
func newSecretTree(s *suite, encryptionSecret secret, leaves, maxJump, window uint32) (*secretTree, error) {
	if leaves == 0 || leaves&(leaves-1) != 0 {
		return nil, fmt.Errorf("%w: secret tree of %d leaves", ErrMalformed, leaves)
	}
	if maxJump == 0 {
		maxJump = DefaultMaxForwardJump
	}
	if window == 0 {
		window = DefaultOutOfOrderWindow
	}
	t := &secretTree{
		s: s, leaves: leaves, nodes: make([]secret, nodeWidth(leaves)),
		ratchets: map[LeafIndex]*[2]hashRatchet{}, maxJump: maxJump, window: window,
	}
	t.nodes[root(leaves)] = encryptionSecret
	return t, nil
}

// label is the label deriving a leaf's ratchet of kind k.
func (k ratchetKind) label() string {
	if k == handshakeRatchet {
		return "handshake"
	}
	return "application"
}

// ratchet returns the ratchet of kind for leaf, deriving it on first use.
func (t *secretTree) ratchet(leaf LeafIndex, kind ratchetKind) (*hashRatchet, error) {
	if uint32(leaf) >= t.leaves {
		return nil, fmt.Errorf("%w: leaf %d of %d", ErrUnknownSender, leaf, t.leaves)
	}
	if r, ok := t.ratchets[leaf]; ok {
		return &r[kind], nil
	}
	leafSecret, err := t.leafSecret(leaf.Node())
	if err != nil {
		return nil, err
	}
	r := new([2]hashRatchet)
	for i := range r {
		out, err := t.s.expandWithLabel(leafSecret, ratchetKind(i).label(), nil, uint16(t.s.hashLen()))
		if err != nil {
			return nil, err
		}
		r[i] = hashRatchet{secret: out, skipped: map[uint32]keyNonce{}}
	}
	t.nodes[leaf.Node()] = nil
	t.ratchets[leaf] = r
	return &r[kind], nil
}

// peek returns leaf's ratchet of kind without changing the tree: the
// ratchet itself once derived, else a fresh copy derived from the
// lowest ancestor secret still held. Receivers peek, so that a message
// that fails to authenticate consumes no tree secret.
func (t *secretTree) peek(leaf LeafIndex, kind ratchetKind) (*hashRatchet, error) {
	if uint32(leaf) >= t.leaves {
		return nil, fmt.Errorf("%w: leaf %d of %d", ErrUnknownSender, leaf, t.leaves)
	}
	if r, ok := t.ratchets[leaf]; ok {
		return &r[kind], nil
	}
	var path []NodeIndex // from the leaf up to the first node holding a secret
	n := leaf.Node()
	for ; t.nodes[n] == nil; n = parent(n) {
		if n == root(t.leaves) {
			return nil, fmt.Errorf("%w: secret for leaf %d already consumed", ErrReplay, leaf)
		}
		path = append(path, n)
	}
	sec := t.nodes[n]
	for i := len(path) - 1; i >= 0; i-- {
		label := "left"
		if path[i] == right(parent(path[i])) {
			label = "right"
		}
		var err error
		if sec, err = t.s.expandWithLabel(sec, "tree", []byte(label), uint16(t.s.hashLen())); err != nil {
			return nil, err
		}
	}
	out, err := t.s.expandWithLabel(sec, kind.label(), nil, uint16(t.s.hashLen()))
	if err != nil {
		return nil, err
	}
	return &hashRatchet{secret: out}, nil
}

// leafSecret derives the tree secret of leaf node x from its lowest
// ancestor still held, deleting each parent secret once its children
// are derived.
func (t *secretTree) leafSecret(x NodeIndex) (secret, error) {
	var path []NodeIndex // from x up to the first node holding a secret
	for n := x; t.nodes[n] == nil; n = parent(n) {
		if n == root(t.leaves) {
			return nil, fmt.Errorf("%w: secret for node %d already consumed", ErrReplay, x)
		}
		path = append(path, n)
	}
	for i := len(path) - 1; i >= 0; i-- {
		p := parent(path[i])
		for _, c := range []struct {
			node  NodeIndex
			label string
		}{{left(p), "left"}, {right(p), "right"}} {
			out, err := t.s.expandWithLabel(t.nodes[p], "tree", []byte(c.label), uint16(t.s.hashLen()))
			if err != nil {
				return nil, err
			}
			t.nodes[c.node] = out
		}
		t.nodes[p] = nil
	}
	return t.nodes[x], nil
}

// derive returns generation r.next's key and nonce and the next ratchet
// secret, without changing r.
func (t *secretTree) derive(sec secret, gen uint32) (keyNonce, secret, error) {
	kn := keyNonce{generation: gen}
	var err error
	if kn.nonce, err = t.s.deriveTreeSecret(sec, "nonce", gen, t.s.nonceLen()); err != nil {
		return kn, nil, err
	}
	if kn.key, err = t.s.deriveTreeSecret(sec, "key", gen, t.s.keyLen); err != nil {
		return kn, nil, err
	}
	next, err := t.s.deriveTreeSecret(sec, "secret", gen, t.s.hashLen())
	return kn, next, err
}

// nextSendKey returns the key and nonce for the sender's next message on
// its own ratchet and advances it; the key is never kept.
func (t *secretTree) nextSendKey(leaf LeafIndex, kind ratchetKind) (keyNonce, error) {
	r, err := t.ratchet(leaf, kind)
	if err != nil {
		return keyNonce{}, err
	}
	if r.next == ^uint32(0) {
		return keyNonce{}, fmt.Errorf("%w: ratchet exhausted", ErrGenerationTooFar)
	}
	kn, next, err := t.derive(r.secret, r.next)
	if err != nil {
		return keyNonce{}, err
	}
	r.secret, r.next = next, r.next+1
	return kn, nil
}

// ratchetUpdate is a receive-side ratchet change, applied only once the
// message it decrypts has been authenticated.
type ratchetUpdate struct {
	leaf    LeafIndex
	kind    ratchetKind
	gen     uint32
	next    uint32
	secret  secret
	skipped []keyNonce
}

// receiveKey returns the key and nonce of generation gen on leaf's
// ratchet of kind, and the update that consumes it. It does not change
// the tree; call apply after the message authenticates.
func (t *secretTree) receiveKey(leaf LeafIndex, kind ratchetKind, gen uint32) (keyNonce, ratchetUpdate, error) {
	r, err := t.peek(leaf, kind)
	if err != nil {
		return keyNonce{}, ratchetUpdate{}, err
	}
	if gen < r.next {
		if kn, ok := r.skipped[gen]; ok {
			return kn, ratchetUpdate{leaf: leaf, kind: kind, gen: gen, next: r.next, secret: r.secret}, nil
		}
		if r.next-gen <= t.window {
			return keyNonce{}, ratchetUpdate{}, fmt.Errorf("%w: leaf %d generation %d", ErrReplay, leaf, gen)
		}
		return keyNonce{}, ratchetUpdate{}, fmt.Errorf("%w: generation %d, ratchet at %d", ErrGenerationTooFar, gen, r.next)
	}
	if gen-r.next > t.maxJump {
		return keyNonce{}, ratchetUpdate{}, fmt.Errorf("%w: generation %d, ratchet at %d", ErrGenerationTooFar, gen, r.next)
	}
	u := ratchetUpdate{leaf: leaf, kind: kind, gen: gen}
	sec := r.secret
	for g := r.next; ; g++ {
		kn, next, err := t.derive(sec, g)
		if err != nil {
			return keyNonce{}, ratchetUpdate{}, err
		}
		sec = next
		if g == gen {
			u.next, u.secret = g+1, sec
			return kn, u, nil
		}
		if gen-g < t.window {
			u.skipped = append(u.skipped, kn)
		}
	}
}

// apply consumes the generation u was made for, deriving the leaf's
// ratchets into the tree (and deleting the secrets used) on first use.
func (t *secretTree) apply(u *ratchetUpdate) error {
	r, err := t.ratchet(u.leaf, u.kind)
	if err != nil {
		return err
	}
	for _, kn := range u.skipped {
		r.skipped[kn.generation] = kn
	}
	delete(r.skipped, u.gen)
	r.next, r.secret = u.next, u.secret
	for g := range r.skipped {
		if r.next-g > t.window {
			delete(r.skipped, g)
		}
	}
	return nil
}

// senderDataKeyNonce derives the key and nonce protecting a
// PrivateMessage's sender data from the first Nh bytes of its ciphertext
// (RFC 9420, Section 6.3.2). Both KDFLabels are built in one buffer.
func (s *suite) senderDataKeyNonce(senderDataSecret secret, ciphertext []byte) (key, nonce []byte, err error) {
	sample := ciphertext[:min(len(ciphertext), s.hashLen())]
	var buf [192]byte
	b, err := appendKDFLabel(buf[:0], "key", sample, uint16(s.keyLen))
	if err != nil {
		return nil, nil, err
	}
	split := len(b)
	if b, err = appendKDFLabel(b, "nonce", sample, uint16(s.nonceLen())); err != nil {
		return nil, nil, err
	}
	infos := string(b)
	if key, err = s.expand(senderDataSecret, "key", infos[:split], uint16(s.keyLen)); err != nil {
		return nil, nil, err
	}
	nonce, err = s.expand(senderDataSecret, "nonce", infos[split:], uint16(s.nonceLen()))
	return key, nonce, err
}
