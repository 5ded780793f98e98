package mls

import (
	"bytes"
	"fmt"
	"io"
	"maps"
)

// TreeKEM (RFC 9420, Sections 7.4-7.6): a committer refreshes the keys on
// its filtered direct path from a chain of path secrets,
//
//	path_secret[0]   = random (Nh bytes)
//	path_secret[n]   = DeriveSecret(path_secret[n-1], "path")
//	node_priv[n]     = DeriveKeyPair(DeriveSecret(path_secret[n], "node"))
//	commit_secret    = DeriveSecret(path_secret[last], "path")
//
// and encrypts path_secret[n] to every node in the resolution of the
// copath child below path node n with EncryptWithLabel(pk, "UpdatePathNode",
// group_context, path_secret). A recipient decrypts the one secret it can
// reach and derives the rest, which is how the tree invariant holds: a
// private key is known only to the members below its node.

// TreePrivate is one member's private view of the tree: its leaf index
// and the private keys it holds for its leaf and for nodes on its direct
// path. It is not safe for concurrent use.
type TreePrivate struct {
	s    *suite
	leaf LeafIndex
	keys map[NodeIndex]*HPKEPrivateKey
}

// NewTreePrivate returns the private state of the member at leaf holding
// encKey, the private key of its leaf's encryption_key.
func NewTreePrivate(cs CipherSuite, leaf LeafIndex, encKey *HPKEPrivateKey) (*TreePrivate, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, err
	}
	return &TreePrivate{s: s, leaf: leaf, keys: map[NodeIndex]*HPKEPrivateKey{leaf.Node(): encKey}}, nil
}

// Leaf returns the member's leaf index.
func (p *TreePrivate) Leaf() LeafIndex { return p.leaf }

// Clone returns an independent copy (keys are immutable and shared).
func (p *TreePrivate) Clone() *TreePrivate {
	c := *p
	c.keys = maps.Clone(p.keys)
	return &c
}

// SetPathSecret derives and stores the key pair of node x from its path
// secret, as a joiner does with the path_secret of a Welcome.
func (p *TreePrivate) SetPathSecret(x NodeIndex, pathSecret []byte) error {
	k, err := p.s.nodeKey(pathSecret)
	if err != nil {
		return err
	}
	p.keys[x] = k
	return nil
}

// SetPathSecrets stores the keys derived from pathSecret for node x and
// every node above x on the member's filtered direct path in t, and
// returns the commit secret that the chain leads to (the secret one past
// the root).
func (p *TreePrivate) SetPathSecrets(t *RatchetTree, x NodeIndex, pathSecret []byte) ([]byte, error) {
	fdp, _ := t.filteredDirectPath(p.leaf)
	start := -1
	for k, y := range fdp {
		if y == x {
			start = k
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("%w: node %d is not on the filtered direct path of leaf %d", ErrInvalidUpdatePath, x, p.leaf)
	}
	keys, commit, err := p.s.derivePath(pathSecret, len(fdp)-start)
	if err != nil {
		return nil, err
	}
	for k, key := range keys {
		p.keys[fdp[start+k]] = key
	}
	return commit, nil
}

// CheckTree verifies that every private key matches the public key of a
// non-blank node of t.
func (p *TreePrivate) CheckTree(t *RatchetTree) error {
	for x, k := range p.keys {
		if int(x) >= len(t.nodes) || t.nodes[x].blank() {
			return fmt.Errorf("%w: private key for blank node %d", ErrBadKey, x)
		}
		if !bytes.Equal(k.PublicKey(), t.nodes[x].encryptionKey()) {
			return fmt.Errorf("%w: private key of node %d does not match the tree", ErrBadKey, x)
		}
	}
	return nil
}

// SetLeafKey replaces the private key of the member's own leaf, as when
// its Update proposal is committed.
func (p *TreePrivate) SetLeafKey(k *HPKEPrivateKey) { p.keys[p.leaf.Node()] = k }

// Prune drops the keys of nodes that proposals blanked, replaced or
// truncated away, so that p again matches t.
func (p *TreePrivate) Prune(t *RatchetTree) {
	for x, k := range p.keys {
		if int(x) >= len(t.nodes) || !bytes.Equal(k.PublicKey(), t.nodes[x].encryptionKey()) {
			delete(p.keys, x)
		}
	}
}

// nodeKey derives a node's key pair from its path secret.
func (s *suite) nodeKey(pathSecret []byte) (*HPKEPrivateKey, error) {
	ns, err := s.deriveSecret(pathSecret, "node")
	if err != nil {
		return nil, err
	}
	return s.deriveKeyPair(ns)
}

// derivePath derives n node keys from the first path secret of a chain
// and the commit secret that follows the last.
func (s *suite) derivePath(first []byte, n int) ([]*HPKEPrivateKey, []byte, error) {
	keys := make([]*HPKEPrivateKey, n)
	ps := first
	for k := range n {
		var err error
		if keys[k], err = s.nodeKey(ps); err != nil {
			return nil, nil, err
		}
		if ps, err = s.deriveSecret(ps, "path"); err != nil {
			return nil, nil, err
		}
	}
	return keys, ps, nil
}

// PathParams configure the committer's new leaf.
type PathParams struct {
	GroupID      []byte
	SignatureKey *SignaturePrivateKey
	// Leaf, if not nil, supplies the new leaf's signature key,
	// credential, capabilities and extensions; otherwise the current
	// leaf's are kept.
	Leaf *LeafNode
	Rand io.Reader
}

// PendingPath is a new path already merged into the committer's
// provisional tree, waiting for the provisional GroupContext to be
// encrypted under.
type PendingPath struct {
	tree        *RatchetTree
	sender      LeafIndex
	path        []NodeIndex
	copath      []NodeIndex
	pathSecrets [][]byte
	leaf        *LeafNode
	priv        *TreePrivate
	commit      []byte
}

// CommitSecret returns the commit secret of the new path.
func (pp *PendingPath) CommitSecret() []byte { return pp.commit }

// PathSecret returns the path secret of node x on the new path.
func (pp *PendingPath) PathSecret(x NodeIndex) ([]byte, bool) {
	for k, y := range pp.path {
		if y == x {
			return pp.pathSecrets[k], true
		}
	}
	return nil, false
}

// PathSecretFor returns the path secret a Welcome gives to joiner: that
// of the lowest node on the new path above the joiner's leaf (RFC 9420,
// Section 12.4.3.1), with the node's index.
func (pp *PendingPath) PathSecretFor(joiner LeafIndex) (NodeIndex, []byte, bool) {
	x := commonAncestor(pp.sender.Node(), joiner.Node())
	ps, ok := pp.PathSecret(x)
	return x, ps, ok
}

// SetWelcomePathSecret installs the path secret a joiner received in its
// Welcome from committer, deriving the keys of the common ancestor and
// every node above it on the filtered direct path, and returns the
// commit secret the chain ends in. t is the tree of the new epoch.
func (p *TreePrivate) SetWelcomePathSecret(t *RatchetTree, committer LeafIndex, pathSecret []byte) ([]byte, error) {
	if committer == p.leaf {
		return nil, fmt.Errorf("%w: joiner is the committer", ErrInvalidUpdatePath)
	}
	c := p.Clone()
	commit, err := c.SetPathSecrets(t, commonAncestor(p.leaf.Node(), committer.Node()), pathSecret)
	if err != nil {
		return nil, err
	}
	if err := c.CheckTree(t); err != nil {
		return nil, err
	}
	*p = *c
	return commit, nil
}

// Private returns the committer's private state for the new tree.
func (pp *PendingPath) Private() *TreePrivate { return pp.priv }
