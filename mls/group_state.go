package mls

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Group state persistence. MarshalState encodes everything a member
// needs to resume (secrets included, so the caller MUST store it
// encrypted, e.g. under the client's local storage key); LoadGroup
// restores it. The encoding reuses the MLS codec and starts with a
// versioned label, so a state from another format or version is
// refused rather than misread:
//
//	opaque label<V> = "sealine/v1/mls-group-state"
//	GroupContext gc; opaque tree<V>; uint32 leaf
//	opaque signature_priv<V>; NodeKey keys<V>        // {uint32 node; opaque priv<V>}
//	opaque epoch_secrets<V>[11]; opaque interim<V>
//	SecretTreeState secret_tree
//	CachedProposal proposals<V>; UpdateKey update_keys<V>
//	ResumptionPSK resumption<V>; uint8 status  // 1 removed, 2 reinit
//	PastEpoch past<V>

const stateLabel = "sealine/v1/mls-group-state"

// MarshalState encodes the group's state for storage. It contains
// private keys and epoch secrets: encrypt it before it touches a disk.
func (g *Group) MarshalState() ([]byte, error) {
	var w writer
	w.Opaque([]byte(stateLabel))
	g.gc.encode(&w)
	writeTree(&w, g.tree)
	w.Uint32(uint32(g.LeafIndex()))
	w.Opaque(g.sigKey.Bytes())
	writeNodeKeys(&w, g.priv)
	for _, s := range g.secrets.list() {
		w.Opaque(*s)
	}
	w.Opaque(g.interim)
	g.framer.tree.encode(&w)
	writeVector(&w, g.proposals, func(w *writer, e proposalEntry) {
		w.Opaque(e.ref)
		e.sender.encode(w)
		e.p.encode(w)
	})
	writeVector(&w, slices.Sorted(maps.Keys(g.updateKeys)), func(w *writer, ref string) {
		w.Opaque([]byte(ref))
		writeHPKEKey(w, g.updateKeys[ref])
	})
	writeVector(&w, slices.Sorted(maps.Keys(g.resumption)), func(w *writer, e uint64) {
		w.Uint64(e)
		w.Opaque(g.resumption[e])
	})
	w.Uint8(boolByte(g.removed) | boolByte(g.reinit)<<1)
	writeVector(&w, g.past, func(w *writer, pe *pastEpoch) { pe.encode(w) })
	return w.Bytes()
}

// LoadGroup restores a Group from MarshalState's output, with cfg as
// its local policy.
func LoadGroup(cfg Config, state []byte) (*Group, error) {
	g := &Group{cfg: cfg}
	r := newReader(state)
	if label := r.Opaque(); r.Err() == nil && string(label) != stateLabel {
		return nil, fmt.Errorf("%w: group state label %q", ErrMalformed, label)
	}
	g.gc = decodeGroupContext(r)
	if r.Err() == nil {
		var err error
		if g.s, err = g.gc.CipherSuite.suite(); err != nil {
			return nil, err
		}
	}
	g.decodeState(r)
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("group state: %w", err)
	}
	if err := g.checkLoaded(); err != nil {
		return nil, fmt.Errorf("group state: %w: %w", ErrMalformed, err)
	}
	return g, nil
}

// checkLoaded verifies that the parts of a loaded state fit together.
// Hashing the tree also fills its hash cache, so the next Commit only
// rehashes the nodes it changes.
func (g *Group) checkLoaded() error {
	if g.framer.tree.leaves != g.tree.NumLeaves() {
		return fmt.Errorf("secret tree of %d leaves for a tree of %d", g.framer.tree.leaves, g.tree.NumLeaves())
	}
	th, err := g.tree.TreeHash()
	if err != nil {
		return err
	}
	if !bytes.Equal(th, g.gc.TreeHash) {
		return errors.New("tree hash does not match the group context")
	}
	if g.removed {
		return nil
	}
	if g.tree.Leaf(g.LeafIndex()) == nil {
		return fmt.Errorf("own leaf %d is blank", g.LeafIndex())
	}
	return g.priv.CheckTree(g.tree)
}

// decodeState reads the fields after the GroupContext.
func (g *Group) decodeState(r *reader) {
	g.tree = readTree(r, g.s)
	leaf := LeafIndex(r.Uint32())
	g.sigKey = readSignatureKey(r, g.s)
	g.priv = readNodeKeys(r, g.s, leaf)
	g.secrets = new(epochSecrets)
	for _, s := range g.secrets.list() {
		*s = r.Opaque()
	}
	g.interim = r.Opaque()
	st := decodeSecretTree(r, g.s, g.cfg)
	g.proposals = readVector(r, func(r *reader) proposalEntry {
		e := proposalEntry{ref: r.Opaque(), sender: decodeSender(r)}
		e.p = ptr(decodeProposal(r))
		return e
	})
	g.readKeyMaps(r)
	status := r.Uint8()
	g.removed, g.reinit = status&1 != 0, status&2 != 0
	if status > 3 {
		r.fail(fmt.Errorf("%w: group status %d", ErrMalformed, status))
	}
	g.past = readVector(r, func(r *reader) *pastEpoch { return decodePastEpoch(r, g.s, g.cfg) })
	if r.Err() == nil {
		g.framer = g.newFramer(&g.gc, g.secrets, st)
	}
}

func (g *Group) readKeyMaps(r *reader) {
	g.updateKeys = map[string]*HPKEPrivateKey{}
	r.Vector(func(r *reader) {
		ref := string(r.Opaque())
		g.updateKeys[ref] = readHPKEKey(r, g.s)
	})
	g.resumption = map[uint64]secret{}
	r.Vector(func(r *reader) {
		e := r.Uint64()
		g.resumption[e] = r.Opaque()
	})
}

// list returns pointers to the secrets in a fixed order.
func (e *epochSecrets) list() []*secret {
	return []*secret{&e.joiner, &e.welcome, &e.senderData, &e.encryption, &e.exporter, &e.external,
		&e.confirmation, &e.membership, &e.resumption, &e.authenticator, &e.init}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func writeTree(w *writer, t *RatchetTree) {
	b, err := t.Marshal()
	if err != nil {
		w.fail(err)
	}
	w.Opaque(b)
}

func readTree(r *reader, s *suite) *RatchetTree {
	b := r.Opaque()
	if r.Err() != nil || s == nil {
		return nil
	}
	t, err := ParseRatchetTree(s.id, b)
	if err != nil {
		r.fail(err)
	}
	return t
}

func readSignatureKey(r *reader, s *suite) *SignaturePrivateKey {
	b := r.Opaque()
	if r.Err() != nil || s == nil {
		return nil
	}
	k, err := s.id.NewSignaturePrivateKey(b)
	if err != nil {
		r.fail(err)
	}
	return k
}

func writeHPKEKey(w *writer, k *HPKEPrivateKey) {
	b, err := k.Bytes()
	if err != nil {
		w.fail(err)
	}
	w.Opaque(b)
}

func readHPKEKey(r *reader, s *suite) *HPKEPrivateKey {
	b := r.Opaque()
	if r.Err() != nil || s == nil {
		return nil
	}
	k, err := s.hpkePrivateKey(b)
	if err != nil {
		r.fail(err)
	}
	return k
}

// writeNodeKeys writes the member's private node keys, sorted by node.
func writeNodeKeys(w *writer, p *TreePrivate) {
	nodes := slices.Sorted(maps.Keys(p.keys))
	writeVector(w, nodes, func(w *writer, x NodeIndex) {
		w.Uint32(uint32(x))
		writeHPKEKey(w, p.keys[x])
	})
}

func readNodeKeys(r *reader, s *suite, leaf LeafIndex) *TreePrivate {
	p := &TreePrivate{s: s, leaf: leaf, keys: map[NodeIndex]*HPKEPrivateKey{}}
	r.Vector(func(r *reader) {
		x := NodeIndex(r.Uint32())
		p.keys[x] = readHPKEKey(r, s)
	})
	return p
}

// encode writes the secret tree: its size, the node secrets still held
// and each derived ratchet with its kept out-of-order keys.
func (t *secretTree) encode(w *writer) {
	w.Uint32(t.leaves)
	writeVector(w, t.nodes, func(w *writer, s secret) {
		w.Optional(s != nil, func(w *writer) { w.Opaque(s) })
	})
	leaves := slices.Sorted(maps.Keys(t.ratchets))
	writeVector(w, leaves, func(w *writer, l LeafIndex) {
		w.Uint32(uint32(l))
		for _, hr := range t.ratchets[l] {
			w.Uint32(hr.next)
			w.Opaque(hr.secret)
			skipped := slices.SortedFunc(maps.Values(hr.skipped), func(a, b keyNonce) int { return cmp.Compare(a.generation, b.generation) })
			writeVector(w, skipped, func(w *writer, kn keyNonce) {
				w.Uint32(kn.generation)
				w.Opaque(kn.key)
				w.Opaque(kn.nonce)
			})
		}
	})
}

func decodeSecretTree(r *reader, s *suite, cfg Config) *secretTree {
	t := &secretTree{s: s, leaves: r.Uint32(), ratchets: map[LeafIndex]*[2]hashRatchet{},
		maxJump: cmp.Or(cfg.MaxForwardJump, DefaultMaxForwardJump), window: cmp.Or(cfg.OutOfOrderWindow, DefaultOutOfOrderWindow)}
	t.nodes = readVector(r, func(r *reader) secret {
		if r.Optional() {
			return r.Opaque()
		}
		return nil
	})
	r.Vector(func(r *reader) {
		l, hr := LeafIndex(r.Uint32()), new([2]hashRatchet)
		for i := range hr {
			hr[i] = hashRatchet{next: r.Uint32(), secret: r.Opaque(), skipped: map[uint32]keyNonce{}}
			r.Vector(func(r *reader) {
				kn := keyNonce{generation: r.Uint32(), key: r.Opaque(), nonce: r.Opaque()}
				hr[i].skipped[kn.generation] = kn
			})
		}
		t.ratchets[l] = hr
	})
	if r.Err() == nil && (t.leaves == 0 || len(t.nodes) != int(nodeWidth(t.leaves))) {
		r.fail(fmt.Errorf("%w: secret tree of %d nodes for %d leaves", ErrMalformed, len(t.nodes), t.leaves))
	}
	return t
}

func (pe *pastEpoch) encode(w *writer) {
	pe.gc.encode(w)
	writeTree(w, pe.tree)
	w.Opaque(pe.framer.membershipKey)
	w.Opaque(pe.framer.senderDataSecret)
	pe.framer.tree.encode(w)
}

func decodePastEpoch(r *reader, s *suite, cfg Config) *pastEpoch {
	pe := &pastEpoch{gc: decodeGroupContext(r)}
	pe.tree = readTree(r, s)
	secrets := &epochSecrets{membership: r.Opaque(), senderData: r.Opaque()}
	st := decodeSecretTree(r, s, cfg)
	g := &Group{cfg: cfg, s: s}
	pe.framer = g.newFramer(&pe.gc, secrets, st)
	return pe
}
