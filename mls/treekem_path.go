package mls

import (
	"bytes"
	"fmt"
	"io"
	"slices"
)

// PrepareUpdatePath refreshes the path of priv's leaf in t, which must be
// the committer's provisional tree (proposals applied): it blanks the
// direct path, sets fresh keys on the filtered direct path, fills in the
// parent hashes and installs a new signed leaf (RFC 9420, Section 7.5).
// t is modified in place; on error it is unchanged. Call Encrypt on the
// result with the provisional GroupContext, which includes t's new tree
// hash.
func (t *RatchetTree) PrepareUpdatePath(priv *TreePrivate, p PathParams) (_ *PendingPath, err error) {
	old := t.Leaf(priv.leaf)
	if old == nil || p.SignatureKey == nil || p.Rand == nil {
		return nil, fmt.Errorf("%w: committer leaf blank or missing key or randomness", ErrInvalidUpdatePath)
	}
	pp := &PendingPath{sender: priv.leaf}
	pp.path, pp.copath = t.filteredDirectPath(priv.leaf)
	leafKey, err := t.s.generateHPKEKey(p.Rand)
	if err != nil {
		return nil, err
	}
	keys, err := pp.newSecrets(t.s, p.Rand)
	if err != nil {
		return nil, err
	}
	snap := t.snapshotPath(priv.leaf)
	defer func() {
		if err != nil {
			t.restore(snap)
		}
	}()
	t.blankPath(priv.leaf)
	for k, x := range pp.path {
		t.setParent(x, &ParentNode{EncryptionKey: keys[k].PublicKey()})
	}
	ph, err := t.setPathParentHashes(priv.leaf, pp.path)
	if err != nil {
		return nil, err
	}
	if pp.leaf, err = newCommitLeaf(t.cs, old, p, leafKey.PublicKey(), ph, priv.leaf); err != nil {
		return nil, err
	}
	t.setLeaf(priv.leaf, pp.leaf)
	pp.priv = &TreePrivate{s: t.s, leaf: priv.leaf, keys: map[NodeIndex]*HPKEPrivateKey{priv.leaf.Node(): leafKey}}
	for k, x := range pp.path {
		pp.priv.keys[x] = keys[k]
	}
	pp.tree = t
	return pp, nil
}

// newSecrets draws path_secret[0] and derives the chain, the node keys
// and the commit secret.
func (pp *PendingPath) newSecrets(s *suite, rand io.Reader) ([]*HPKEPrivateKey, error) {
	ps := make([]byte, s.hashLen())
	if _, err := io.ReadFull(rand, ps); err != nil {
		return nil, fmt.Errorf("mls: path secret: %w", err)
	}
	keys := make([]*HPKEPrivateKey, len(pp.path))
	pp.pathSecrets = make([][]byte, len(pp.path))
	for k := range pp.path {
		pp.pathSecrets[k] = ps
		var err error
		if keys[k], err = s.nodeKey(ps); err != nil {
			return nil, err
		}
		if ps, err = s.deriveSecret(ps, "path"); err != nil {
			return nil, err
		}
	}
	pp.commit = ps
	return keys, nil
}

// newCommitLeaf builds and signs the committer's leaf for a new path.
func newCommitLeaf(cs CipherSuite, old *LeafNode, p PathParams, encKey HPKEPublicKey, ph []byte, leaf LeafIndex) (*LeafNode, error) {
	base := old
	if p.Leaf != nil {
		base = p.Leaf
	}
	ln := base.clone()
	ln.SignatureKey = p.SignatureKey.PublicKey()
	ln.EncryptionKey = encKey
	ln.Source = LeafNodeSourceCommit
	ln.Lifetime = Lifetime{}
	ln.ParentHash = ph
	if err := ln.Sign(cs, p.SignatureKey, p.GroupID, leaf); err != nil {
		return nil, err
	}
	return ln, nil
}

// Encrypt produces the UpdatePath: each path secret encrypted to the
// resolution of its copath child, leaving out the leaves in exclude (the
// members added by the same Commit). groupContext is the encoded
// provisional GroupContext.
func (pp *PendingPath) Encrypt(groupContext []byte, exclude []LeafIndex) (*UpdatePath, error) {
	up := &UpdatePath{LeafNode: *pp.leaf.clone(), Nodes: make([]UpdatePathNode, len(pp.path))}
	var res []NodeIndex
	for k, x := range pp.path {
		res = pp.tree.appendResolution(res[:0], pp.copath[k], exclude)
		node := UpdatePathNode{
			EncryptionKey:       pp.tree.nodes[x].parent.EncryptionKey,
			EncryptedPathSecret: make([]HPKECiphertext, len(res)),
		}
		for j, y := range res {
			kem, ct, err := pp.tree.s.encryptWithLabel(pp.tree.nodes[y].encryptionKey(), "UpdatePathNode", groupContext, pp.pathSecrets[k])
			if err != nil {
				return nil, fmt.Errorf("encrypt path secret to node %d: %w", y, err)
			}
			node.EncryptedPathSecret[j] = HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		}
		up.Nodes[k] = node
	}
	return up, nil
}

// MergeUpdatePath applies a received UpdatePath from sender to t (RFC
// 9420, Section 7.5): it checks the path's shape against the tree, the
// new leaf (source commit, signature over groupID and sender), sets the
// new keys and verifies the leaf's parent hash (a *ParentHashError on
// mismatch). exclude lists the leaves added by the same Commit. On error
// t is unchanged.
func (t *RatchetTree) MergeUpdatePath(sender LeafIndex, up *UpdatePath, groupID []byte, exclude []LeafIndex) error {
	if t.Leaf(sender) == nil {
		return fmt.Errorf("%w: sender leaf %d is blank", ErrInvalidUpdatePath, sender)
	}
	path, cp := t.filteredDirectPath(sender)
	if err := t.checkPathShape(up, path, cp, exclude); err != nil {
		return err
	}
	check := LeafNodeCheck{Source: LeafNodeSourceCommit, GroupID: groupID, Leaf: sender}
	if err := up.LeafNode.Validate(t.cs, check); err != nil {
		return fmt.Errorf("update path leaf: %w", err)
	}
	if err := t.checkFreshKeys(sender, up); err != nil {
		return err
	}
	snap := t.snapshotPath(sender)
	t.blankPath(sender)
	for k, x := range path {
		t.setParent(x, &ParentNode{EncryptionKey: bytes.Clone(up.Nodes[k].EncryptionKey)})
	}
	ph, err := t.setPathParentHashes(sender, path)
	if err == nil && !bytes.Equal(ph, up.LeafNode.ParentHash) {
		err = &ParentHashError{Node: sender.Node(), Reason: "update path leaf parent_hash does not match the path"}
	}
	if err != nil {
		t.restore(snap)
		return err
	}
	t.setLeaf(sender, up.LeafNode.clone())
	return nil
}

// checkPathShape requires one UpdatePathNode per filtered direct path
// node and one ciphertext per resolution node.
func (t *RatchetTree) checkPathShape(up *UpdatePath, path, cp []NodeIndex, exclude []LeafIndex) error {
	if len(up.Nodes) != len(path) {
		return fmt.Errorf("%w: %d path nodes, filtered direct path has %d", ErrInvalidUpdatePath, len(up.Nodes), len(path))
	}
	var res []NodeIndex
	for k := range path {
		res = t.appendResolution(res[:0], cp[k], exclude)
		if n := len(up.Nodes[k].EncryptedPathSecret); n != len(res) {
			return fmt.Errorf("%w: node %d has %d ciphertexts for a resolution of %d", ErrInvalidUpdatePath, path[k], n, len(res))
		}
	}
	return nil
}

// checkFreshKeys requires the path's new HPKE keys and the new leaf's
// signature key to be unused by any node the path does not replace (RFC
// 9420, Section 7.3: keys are unique among members), and the new leaf's
// encryption key to differ from the old one.
func (t *RatchetTree) checkFreshKeys(sender LeafIndex, up *UpdatePath) error {
	fresh := make(map[string]bool, len(up.Nodes)+1)
	fresh[string(up.LeafNode.EncryptionKey)] = true
	for _, n := range up.Nodes {
		fresh[string(n.EncryptionKey)] = true
	}
	if len(fresh) != len(up.Nodes)+1 {
		return fmt.Errorf("%w: repeated key in path", ErrInvalidUpdatePath)
	}
	if bytes.Equal(t.Leaf(sender).EncryptionKey, up.LeafNode.EncryptionKey) {
		return fmt.Errorf("%w: leaf encryption key not refreshed", ErrInvalidUpdatePath)
	}
	for x := range t.nodes {
		n := &t.nodes[x]
		if n.blank() || NodeIndex(x) == sender.Node() || isAncestor(NodeIndex(x), sender.Node()) {
			continue
		}
		if fresh[string(n.encryptionKey())] {
			return fmt.Errorf("%w: path reuses the key of node %d", ErrInvalidUpdatePath, x)
		}
		if n.leaf != nil && bytes.Equal(n.leaf.SignatureKey, up.LeafNode.SignatureKey) {
			return fmt.Errorf("%w: signature key of leaf %d reused", ErrInvalidUpdatePath, x/2)
		}
	}
	return nil
}

// DecryptUpdatePath recovers the path secrets of an UpdatePath from sender
// that t has already merged (MergeUpdatePath), updates p with the new
// keys and returns the commit secret. groupContext is the encoded
// provisional GroupContext; exclude lists the leaves added by the same
// Commit. On error p is unchanged.
func (p *TreePrivate) DecryptUpdatePath(t *RatchetTree, sender LeafIndex, up *UpdatePath, groupContext []byte, exclude []LeafIndex) ([]byte, error) {
	_, commit, err := p.decryptPath(t, sender, up, groupContext, exclude)
	return commit, err
}

// decryptPath also returns the path secret that was decrypted.
func (p *TreePrivate) decryptPath(t *RatchetTree, sender LeafIndex, up *UpdatePath, gc []byte, exclude []LeafIndex) (ps, commit []byte, err error) {
	if sender == p.leaf || slices.Contains(exclude, p.leaf) {
		return nil, nil, fmt.Errorf("%w: leaf %d cannot decrypt this path", ErrNoPrivateKey, p.leaf)
	}
	path, cp := t.filteredDirectPath(sender)
	if len(up.Nodes) != len(path) {
		return nil, nil, fmt.Errorf("%w: path length", ErrInvalidUpdatePath)
	}
	k := slices.IndexFunc(cp, func(c NodeIndex) bool { return c == p.leaf.Node() || isAncestor(c, p.leaf.Node()) })
	if k < 0 {
		return nil, nil, fmt.Errorf("%w: leaf %d under no copath node", ErrNoPrivateKey, p.leaf)
	}
	if ps, err = p.decryptAt(t, cp[k], up.Nodes[k].EncryptedPathSecret, gc, exclude); err != nil {
		return nil, nil, err
	}
	keys, commit, err := p.s.derivePath(ps, len(path)-k)
	if err != nil {
		return nil, nil, err
	}
	for m, key := range keys {
		if !bytes.Equal(key.PublicKey(), up.Nodes[k+m].EncryptionKey) {
			return nil, nil, fmt.Errorf("%w: derived key of node %d differs from the path", ErrInvalidUpdatePath, path[k+m])
		}
	}
	p.dropPath(sender, t.NumLeaves())
	for m, key := range keys {
		p.keys[path[k+m]] = key
	}
	return ps, commit, nil
}

// decryptAt opens the ciphertext addressed to a resolution node of c whose
// private key p holds.
func (p *TreePrivate) decryptAt(t *RatchetTree, c NodeIndex, cts []HPKECiphertext, gc []byte, exclude []LeafIndex) ([]byte, error) {
	res := t.appendResolution(nil, c, exclude)
	if len(res) != len(cts) {
		return nil, fmt.Errorf("%w: %d ciphertexts for a resolution of %d", ErrInvalidUpdatePath, len(cts), len(res))
	}
	for j, y := range res {
		if key := p.keys[y]; key != nil {
			ps, err := p.s.decryptWithLabel(key, "UpdatePathNode", gc, cts[j].KEMOutput, cts[j].Ciphertext)
			if err != nil {
				return nil, fmt.Errorf("path secret for node %d: %w", y, err)
			}
			return ps, nil
		}
	}
	return nil, fmt.Errorf("%w: none of %v", ErrNoPrivateKey, res)
}

// dropPath deletes the keys of nodes on sender's direct path, which the
// new path replaced.
func (p *TreePrivate) dropPath(sender LeafIndex, n uint32) {
	for _, x := range directPath(sender.Node(), n) {
		delete(p.keys, x)
	}
}
