package mls

import "fmt"

// Wire form of the ratchet tree (RFC 9420, Section 12.4.3.3), the body
// of the ratchet_tree extension:
//
//	struct {
//	    NodeType node_type;                 // 1 = leaf, 2 = parent
//	    select (Node.node_type) {
//	        case leaf:   LeafNode leaf_node;
//	        case parent: ParentNode parent_node;
//	    };
//	} Node;
//
//	optional<Node> ratchet_tree<V>;         // array order, blank = absent
//
// Leaves sit at even positions and parents at odd ones; trailing blank
// nodes are omitted, so the last entry must be present. The receiver
// pads the array with blanks to the width of a full tree.

func (p *ParentNode) encode(w *writer) {
	w.Opaque(p.EncryptionKey)
	w.Opaque(p.ParentHash)
	writeVector(w, p.UnmergedLeaves, func(w *writer, l LeafIndex) { w.Uint32(uint32(l)) })
}

func decodeParentNode(r *reader) ParentNode {
	return ParentNode{
		EncryptionKey:  r.Opaque(),
		ParentHash:     r.Opaque(),
		UnmergedLeaves: readVector(r, func(r *reader) LeafIndex { return LeafIndex(r.Uint32()) }),
	}
}

func (n *treeNode) encode(w *writer) {
	w.Optional(!n.blank(), func(w *writer) {
		if n.leaf != nil {
			w.Uint8(uint8(NodeTypeLeaf))
			n.leaf.encode(w)
			return
		}
		w.Uint8(uint8(NodeTypeParent))
		n.parent.encode(w)
	})
}

// decodeTreeNode reads optional<Node> at array position x, requiring the
// node type that position calls for.
func decodeTreeNode(r *reader, x NodeIndex) treeNode {
	if !r.Optional() {
		return treeNode{}
	}
	typ := NodeType(r.Uint8())
	switch {
	case r.Err() != nil:
		return treeNode{}
	case typ == NodeTypeLeaf && x.IsLeaf():
		ln := decodeLeafNode(r)
		return treeNode{leaf: &ln}
	case typ == NodeTypeParent && !x.IsLeaf():
		p := decodeParentNode(r)
		return treeNode{parent: &p}
	}
	r.fail(fmt.Errorf("%w: node type %d at node %d", ErrMalformed, typ, x))
	return treeNode{}
}

// Marshal returns the ratchet_tree encoding, without trailing blanks.
func (t *RatchetTree) Marshal() ([]byte, error) {
	end := len(t.nodes)
	for end > 0 && t.nodes[end-1].blank() {
		end--
	}
	var w writer
	w.Vector(func(w *writer) {
		for i := range end {
			t.nodes[i].encode(w)
		}
	})
	return w.Bytes()
}

// ParseRatchetTree decodes a ratchet_tree for suite cs. It checks the
// structure only (node types by position, a non-blank last node, the
// size bound); call Validate before trusting the tree.
func ParseRatchetTree(cs CipherSuite, data []byte) (*RatchetTree, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, err
	}
	var nodes []treeNode
	err = unmarshal(data, func(r *reader) {
		r.Vector(func(r *reader) {
			if len(nodes) >= int(nodeWidth(maxTreeLeaves)) {
				r.fail(fmt.Errorf("%w: more than %d leaves", ErrTooLarge, maxTreeLeaves))
				return
			}
			nodes = append(nodes, decodeTreeNode(r, NodeIndex(len(nodes))))
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ratchet tree: %w", err)
	}
	if len(nodes) == 0 || nodes[len(nodes)-1].blank() {
		return nil, fmt.Errorf("ratchet tree: %w: empty or trailing blank node", ErrMalformed)
	}
	n := uint32(1)
	for nodeWidth(n) < uint32(len(nodes)) {
		n *= 2
	}
	full := make([]treeNode, nodeWidth(n))
	copy(full, nodes)
	if err := checkUnmergedRange(full); err != nil {
		return nil, fmt.Errorf("ratchet tree: %w", err)
	}
	return &RatchetTree{cs: cs, s: s, nodes: full}, nil
}

// checkUnmergedRange requires every unmerged leaf to lie below its node,
// so that no later walk over a resolution leaves the array.
func checkUnmergedRange(nodes []treeNode) error {
	n := uint32(len(nodes)+1) / 2
	for x := 1; x < len(nodes); x += 2 {
		p := nodes[x].parent
		if p == nil {
			continue
		}
		for _, l := range p.UnmergedLeaves {
			if uint32(l) >= n || !isAncestor(NodeIndex(x), l.Node()) {
				return fmt.Errorf("%w: node %d lists unmerged leaf %d outside its subtree", ErrInvalidTree, x, l)
			}
		}
	}
	return nil
}
