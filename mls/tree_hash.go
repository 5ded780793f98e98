package mls

import (
	"fmt"
	"slices"
)

// Tree hashes (RFC 9420, Section 7.8):
//
//	struct {
//	    NodeType node_type;
//	    select (TreeHashInput.node_type) {
//	        case leaf:   uint32 leaf_index; optional<LeafNode> leaf_node;
//	        case parent: optional<ParentNode> parent_node;
//	                     opaque left_hash<V>; opaque right_hash<V>;
//	    };
//	} TreeHashInput;
//
// Hashes are cached per node. A subtree's hash depends only on the
// subtree (leaf indices are absolute), so extending or truncating the
// tree keeps every cached hash valid.

// TreeHash returns the tree hash of the root.
func (t *RatchetTree) TreeHash() ([]byte, error) {
	return t.nodeHash(t.root())
}

// NodeHash returns the tree hash of the subtree rooted at x.
func (t *RatchetTree) NodeHash(x NodeIndex) ([]byte, error) {
	if int(x) >= len(t.nodes) {
		return nil, fmt.Errorf("%w: node %d out of range", ErrInvalidTree, x)
	}
	return t.nodeHash(x)
}

func (t *RatchetTree) nodeHash(x NodeIndex) ([]byte, error) {
	n := &t.nodes[x]
	if n.hash != nil {
		return n.hash, nil
	}
	var h []byte
	var err error
	if x.IsLeaf() {
		h, err = t.leafHash(x.Leaf(), n.leaf)
	} else {
		h, err = t.parentTreeHash(x, n.parent, nil)
	}
	if err != nil {
		return nil, err
	}
	n.hash = h
	return h, nil
}

func (t *RatchetTree) leafHash(i LeafIndex, ln *LeafNode) ([]byte, error) {
	w := writer{b: make([]byte, 0, 512)} // a typical leaf fits: one allocation
	w.Uint8(uint8(NodeTypeLeaf))
	w.Uint32(uint32(i))
	writeOptional(&w, ln, encodeLeafNode)
	b, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tree hash of leaf %d: %w", i, err)
	}
	return t.s.hash(b), nil
}

func encodeLeafNode(w *writer, ln *LeafNode)    { ln.encode(w) }
func encodeParentNode(w *writer, p *ParentNode) { p.encode(w) }

// parentTreeHash hashes ParentNodeHashInput for node x holding p. With a
// non-empty exclude it computes the "original" hash that the subtree had
// before the leaves in exclude were added: those leaves are blanked and
// dropped from unmerged_leaves (RFC 9420, Section 7.9).
func (t *RatchetTree) parentTreeHash(x NodeIndex, p *ParentNode, exclude []LeafIndex) ([]byte, error) {
	lh, err := t.hashExcluding(left(x), exclude)
	if err != nil {
		return nil, err
	}
	rh, err := t.hashExcluding(right(x), exclude)
	if err != nil {
		return nil, err
	}
	if p != nil && len(exclude) > 0 {
		q := *p
		q.UnmergedLeaves = slices.DeleteFunc(slices.Clone(p.UnmergedLeaves), func(l LeafIndex) bool {
			return slices.Contains(exclude, l)
		})
		p = &q
	}
	w := writer{b: make([]byte, 0, 256)}
	w.Uint8(uint8(NodeTypeParent))
	writeOptional(&w, p, encodeParentNode)
	w.Opaque(lh)
	w.Opaque(rh)
	b, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("tree hash of node %d: %w", x, err)
	}
	return t.s.hash(b), nil
}

// hashExcluding is the tree hash of x with the leaves in exclude treated
// as blank and removed from unmerged_leaves; it uses the cache when no
// excluded leaf lies under x.
func (t *RatchetTree) hashExcluding(x NodeIndex, exclude []LeafIndex) ([]byte, error) {
	if !anyUnder(x, exclude) {
		return t.nodeHash(x)
	}
	if x.IsLeaf() {
		return t.leafHash(x.Leaf(), nil) // x is itself excluded
	}
	return t.parentTreeHash(x, t.nodes[x].parent, exclude)
}

// anyUnder reports whether any leaf in leaves lies in the subtree of x.
func anyUnder(x NodeIndex, leaves []LeafIndex) bool {
	for _, l := range leaves {
		if l.Node() == x || isAncestor(x, l.Node()) {
			return true
		}
	}
	return false
}
