package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// Parent hashes (RFC 9420, Section 7.9):
//
//	struct {
//	    HPKEPublicKey encryption_key;
//	    opaque parent_hash<V>;
//	    opaque original_sibling_tree_hash<V>;
//	} ParentHashInput;
//
// They chain each UpdatePath from the committer's signed leaf up to the
// root, so a joiner can tell that every parent key was set by a member
// below it rather than chosen by whoever handed over the tree.

// parentHashOf is the parent hash of parent node p with copath child s.
func (t *RatchetTree) parentHashOf(p, s NodeIndex) ([]byte, error) {
	pn := t.nodes[p].parent
	if pn == nil {
		return nil, fmt.Errorf("%w: parent hash of blank node %d", ErrInvalidTree, p)
	}
	sth, err := t.hashExcluding(s, pn.UnmergedLeaves)
	if err != nil {
		return nil, err
	}
	var w writer
	w.Opaque(pn.EncryptionKey)
	w.Opaque(pn.ParentHash)
	w.Opaque(sth)
	return t.s.hash(w.b), nil
}

// otherChild is the child of parent node p whose subtree does not hold x.
func otherChild(p, x NodeIndex) NodeIndex {
	if x < p {
		return right(p)
	}
	return left(p)
}

// setPathParentHashes fills in parent_hash along the filtered direct path
// fdp of leaf, from the root down, and returns the value the leaf's
// parent_hash must carry. The nodes of fdp must already hold their new
// keys and empty unmerged_leaves.
func (t *RatchetTree) setPathParentHashes(leaf LeafIndex, fdp []NodeIndex) ([]byte, error) {
	var ph []byte
	for k := len(fdp) - 1; k >= 0; k-- {
		x := fdp[k]
		np := *t.nodes[x].parent
		np.ParentHash = ph
		t.setParent(x, &np)
		var err error
		if ph, err = t.parentHashOf(x, otherChild(x, leaf.Node())); err != nil {
			return nil, err
		}
	}
	return ph, nil
}

// nodeParentHash returns the parent_hash field of node d, if it has one.
func (t *RatchetTree) nodeParentHash(d NodeIndex) ([]byte, bool) {
	n := &t.nodes[d]
	switch {
	case n.parent != nil:
		return n.parent.ParentHash, true
	case n.leaf != nil && n.leaf.Source == LeafNodeSourceCommit:
		return n.leaf.ParentHash, true
	}
	return nil, false
}

// VerifyParentHashes checks that every non-blank parent node is
// parent-hash valid (RFC 9420, Section 7.9.2), top down: each must have
// exactly one descendant whose parent_hash links to it. A failure is a
// *ParentHashError.
func (t *RatchetTree) VerifyParentHashes() error {
	for x := NodeIndex(1); int(x) < len(t.nodes); x += 2 {
		if t.nodes[x].parent == nil {
			continue
		}
		n, err := t.parentHashLinks(x)
		if err != nil {
			return err
		}
		if n != 1 {
			return &ParentHashError{Node: x, Reason: fmt.Sprintf("%d descendants link to it, want 1", n)}
		}
	}
	return nil
}

// parentHashLinks counts the descendants D of p whose parent hash is valid
// with respect to p.
func (t *RatchetTree) parentHashLinks(p NodeIndex) (int, error) {
	count := 0
	for _, c := range []NodeIndex{left(p), right(p)} {
		ph, err := t.parentHashOf(p, otherChild(p, c))
		if err != nil {
			return 0, err
		}
		res := t.Resolution(c)
		unmerged := t.unmergedUnder(p, c)
		for k, d := range res {
			if got, ok := t.nodeParentHash(d); !ok || !bytes.Equal(got, ph) {
				continue
			}
			rest := slices.Delete(slices.Clone(res), k, k+1)
			slices.Sort(rest)
			if slices.Equal(rest, unmerged) {
				count++
			}
		}
	}
	return count, nil
}

// unmergedUnder lists, as sorted node indices, p's unmerged leaves in the
// subtree of c.
func (t *RatchetTree) unmergedUnder(p, c NodeIndex) []NodeIndex {
	var out []NodeIndex
	for _, l := range t.nodes[p].parent.UnmergedLeaves {
		if l.Node() == c || isAncestor(c, l.Node()) {
			out = append(out, l.Node())
		}
	}
	slices.Sort(out)
	return out
}
