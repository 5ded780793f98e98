package mls

import (
	"fmt"
	"slices"
	"time"
)

// TreeCheck carries the group context needed to validate a whole tree.
type TreeCheck struct {
	GroupID []byte
	// Now, if not zero, is checked against key_package leaf lifetimes
	// (RECOMMENDED for received trees, RFC 9420, Section 7.3).
	Now             time.Time
	GroupExtensions []Extension
}

// Validate checks the integrity of a tree received from others, as a
// joiner must (RFC 9420, Section 12.4.3.1), except the root hash, which
// the caller compares with the GroupInfo: every leaf is valid and signed
// for its position, keys are unique, unmerged_leaves are consistent, and
// every non-blank parent is parent-hash valid.
func (t *RatchetTree) Validate(c TreeCheck) error {
	if err := t.validateLeaves(c); err != nil {
		return err
	}
	if err := t.checkUniqueKeys(); err != nil {
		return err
	}
	if err := t.checkUnmerged(); err != nil {
		return err
	}
	return t.VerifyParentHashes()
}

func (t *RatchetTree) validateLeaves(c TreeCheck) error {
	var creds []CredentialType
	for i := LeafIndex(0); uint32(i) < t.NumLeaves(); i++ {
		if ln := t.Leaf(i); ln != nil && !slices.Contains(creds, ln.Credential.Type) {
			creds = append(creds, ln.Credential.Type)
		}
	}
	for i := LeafIndex(0); uint32(i) < t.NumLeaves(); i++ {
		ln := t.Leaf(i)
		if ln == nil {
			continue
		}
		check := LeafNodeCheck{Source: ln.Source, GroupID: c.GroupID, Leaf: i, Now: c.Now, GroupExtensions: c.GroupExtensions}
		if err := ln.Validate(t.cs, check); err != nil {
			return fmt.Errorf("leaf %d: %w", i, err)
		}
		for _, ct := range creds {
			if !slices.Contains(ln.Capabilities.Credentials, ct) {
				return fmt.Errorf("%w: leaf %d does not support credential type %d", ErrInvalidLeafNode, i, ct)
			}
		}
	}
	return nil
}

// checkUniqueKeys requires every HPKE key in the tree, and every leaf's
// signature key, to be distinct.
func (t *RatchetTree) checkUniqueKeys() error {
	enc := make(map[string]NodeIndex)
	sig := make(map[string]LeafIndex)
	for x := range t.nodes {
		n := &t.nodes[x]
		if n.blank() {
			continue
		}
		k := string(n.encryptionKey())
		if prev, dup := enc[k]; dup {
			return fmt.Errorf("%w: nodes %d and %d share an encryption key", ErrInvalidTree, prev, x)
		}
		enc[k] = NodeIndex(x)
		if n.leaf == nil {
			continue
		}
		s := string(n.leaf.SignatureKey)
		if prev, dup := sig[s]; dup {
			return fmt.Errorf("%w: leaves %d and %d share a signature key", ErrInvalidTree, prev, x/2)
		}
		sig[s] = NodeIndex(x).Leaf()
	}
	return nil
}

// checkNewLeafKeys requires the encryption and signature keys of leaves
// to be used by no other node, given that the rest of the tree's keys are
// already distinct (true of any tree that passed Validate and was only
// changed by checked operations since). It costs one pass over the tree
// and a map of the new leaves' keys only.
func (t *RatchetTree) checkNewLeafKeys(leaves []LeafIndex) error {
	if len(leaves) == 0 {
		return nil
	}
	enc := make(map[string]LeafIndex, len(leaves))
	sig := make(map[string]LeafIndex, len(leaves))
	for _, l := range leaves {
		ln := t.Leaf(l)
		if ln == nil {
			continue
		}
		if prev, dup := enc[string(ln.EncryptionKey)]; dup && prev != l {
			return fmt.Errorf("%w: leaves %d and %d share an encryption key", ErrInvalidTree, prev, l)
		}
		if prev, dup := sig[string(ln.SignatureKey)]; dup && prev != l {
			return fmt.Errorf("%w: leaves %d and %d share a signature key", ErrInvalidTree, prev, l)
		}
		enc[string(ln.EncryptionKey)], sig[string(ln.SignatureKey)] = l, l
	}
	for x := range t.nodes {
		n := &t.nodes[x]
		if n.blank() {
			continue
		}
		if l, ok := enc[string(n.encryptionKey())]; ok && l.Node() != NodeIndex(x) {
			return fmt.Errorf("%w: leaf %d reuses the encryption key of node %d", ErrInvalidTree, l, x)
		}
		if n.leaf == nil {
			continue
		}
		if l, ok := sig[string(n.leaf.SignatureKey)]; ok && l.Node() != NodeIndex(x) {
			return fmt.Errorf("%w: leaf %d reuses the signature key of leaf %d", ErrInvalidTree, l, x/2)
		}
	}
	return nil
}

// checkUnmerged verifies that each unmerged_leaves list is strictly
// increasing, names non-blank leaves below its node, and that every
// non-blank node between such a leaf and the node lists it too.
func (t *RatchetTree) checkUnmerged() error {
	for x := NodeIndex(1); int(x) < len(t.nodes); x += 2 {
		p := t.nodes[x].parent
		if p == nil {
			continue
		}
		for k, l := range p.UnmergedLeaves {
			if k > 0 && l <= p.UnmergedLeaves[k-1] {
				return fmt.Errorf("%w: node %d: unmerged leaves not sorted", ErrInvalidTree, x)
			}
			if !isAncestor(x, l.Node()) || t.Leaf(l) == nil {
				return fmt.Errorf("%w: node %d: unmerged leaf %d is blank or not below it", ErrInvalidTree, x, l)
			}
			if err := t.checkUnmergedBetween(l, x); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *RatchetTree) checkUnmergedBetween(l LeafIndex, top NodeIndex) error {
	for y := parent(l.Node()); y != top; y = parent(y) {
		if q := t.nodes[y].parent; q != nil && !slices.Contains(q.UnmergedLeaves, l) {
			return fmt.Errorf("%w: node %d lacks unmerged leaf %d listed above it", ErrInvalidTree, y, l)
		}
	}
	return nil
}
