package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// Checks that a leaf fits the group's tree before an Add or Update is
// applied (RFC 9420, Section 7.3). Leaf-local checks (signature,
// capabilities, lifetime) are LeafNode.Validate's.

// CheckAddLeaf verifies that ln may join the tree: its encryption and
// signature keys are used by no node, every member supports its
// credential type, and it supports every credential type in use.
func (t *RatchetTree) CheckAddLeaf(ln *LeafNode) error {
	return t.checkLeafFits(ln, -1)
}

// CheckUpdateLeaf verifies that ln may replace the leaf at i (an Update
// proposal): as CheckAddLeaf, ignoring leaf i and its direct path, and
// the encryption key must change.
func (t *RatchetTree) CheckUpdateLeaf(i LeafIndex, ln *LeafNode) error {
	old := t.Leaf(i)
	if old == nil {
		return fmt.Errorf("%w: update of blank leaf %d", ErrInvalidLeafNode, i)
	}
	if bytes.Equal(old.EncryptionKey, ln.EncryptionKey) {
		return fmt.Errorf("%w: update keeps the encryption key of leaf %d", ErrInvalidLeafNode, i)
	}
	return t.checkLeafFits(ln, int(i))
}

// checkLeafFits runs the shared checks; skip is the leaf being replaced
// (or -1), whose own node and direct path are ignored.
func (t *RatchetTree) checkLeafFits(ln *LeafNode, skip int) error {
	for x := range t.nodes {
		n := &t.nodes[x]
		if n.blank() || (skip >= 0 && (x == 2*skip || isAncestor(NodeIndex(x), NodeIndex(2*skip)))) {
			continue
		}
		if bytes.Equal(n.encryptionKey(), ln.EncryptionKey) {
			return fmt.Errorf("%w: encryption key already used by node %d", ErrInvalidLeafNode, x)
		}
		if n.leaf == nil {
			continue
		}
		if err := credentialsCompatible(n.leaf, ln); err != nil {
			return fmt.Errorf("leaf %d: %w", x/2, err)
		}
	}
	return nil
}

// credentialsCompatible checks that member m and newcomer ln share a key
// space and support each other's credential types.
func credentialsCompatible(m, ln *LeafNode) error {
	if bytes.Equal(m.SignatureKey, ln.SignatureKey) {
		return fmt.Errorf("%w: signature key already used", ErrInvalidLeafNode)
	}
	if !slices.Contains(m.Capabilities.Credentials, ln.Credential.Type) {
		return fmt.Errorf("%w: member does not support credential type %d", ErrInvalidLeafNode, ln.Credential.Type)
	}
	if !slices.Contains(ln.Capabilities.Credentials, m.Credential.Type) {
		return fmt.Errorf("%w: new leaf does not support credential type %d", ErrInvalidLeafNode, m.Credential.Type)
	}
	return nil
}
