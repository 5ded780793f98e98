package mls

import "math/bits"

// Tree math for the array representation of a ratchet tree (RFC 9420
// Appendix C). Leaves sit at even node indices (leaf L at node 2L) and
// parents at odd indices; the tree always has a power-of-two number of
// leaves. None of these functions allocate except the path helpers.

// LeafIndex is the index of a leaf among the leaves of the tree.
type LeafIndex uint32

// NodeIndex is the index of a node in the array representation of the tree.
type NodeIndex uint32

// Node returns the node index of leaf l.
func (l LeafIndex) Node() NodeIndex { return NodeIndex(2 * uint32(l)) }

// IsLeaf reports whether x is a leaf node.
func (x NodeIndex) IsLeaf() bool { return x%2 == 0 }

// Leaf returns the leaf index of x, which must be a leaf node.
func (x NodeIndex) Leaf() LeafIndex { return LeafIndex(x / 2) }

// level is the height of x above the leaves: the number of trailing one bits.
func level(x NodeIndex) uint { return uint(bits.TrailingZeros32(^uint32(x))) }

// nodeWidth is the number of nodes in a tree with n leaves.
func nodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// root is the root node of a tree with n leaves (n a power of two).
func root(n uint32) NodeIndex {
	w := nodeWidth(n)
	return NodeIndex(uint32(1)<<(bits.Len32(w)-1) - 1)
}

// left is the left child of the parent node x.
func left(x NodeIndex) NodeIndex {
	k := level(x)
	return x ^ (1 << (k - 1))
}

// right is the right child of the parent node x.
func right(x NodeIndex) NodeIndex {
	k := level(x)
	return x ^ (3 << (k - 1))
}

// parent is the parent of x; x must not be the root.
func parent(x NodeIndex) NodeIndex {
	k := level(x)
	b := (x >> (k + 1)) & 1
	return (x | 1<<k) ^ (b << (k + 1))
}

// sibling is the other child of x's parent; x must not be the root.
func sibling(x NodeIndex) NodeIndex {
	p := parent(x)
	if x < p {
		return right(p)
	}
	return left(p)
}

// directPath lists the ancestors of x from its parent up to the root of a
// tree with n leaves. The direct path of the root is empty.
func directPath(x NodeIndex, n uint32) []NodeIndex {
	r := root(n)
	if x == r {
		return nil
	}
	d := make([]NodeIndex, 0, level(r)-level(x))
	for x != r {
		x = parent(x)
		d = append(d, x)
	}
	return d
}

// copath lists the siblings of x and of every node on its direct path
// except the root, ordered from leaf to root.
func copath(x NodeIndex, n uint32) []NodeIndex {
	d := directPath(x, n)
	if len(d) == 0 {
		return nil
	}
	c := make([]NodeIndex, len(d))
	c[0] = sibling(x)
	for i := 1; i < len(d); i++ {
		c[i] = sibling(d[i-1])
	}
	return c
}

// isAncestor reports whether a is a proper ancestor of x.
func isAncestor(a, x NodeIndex) bool {
	ka := level(a)
	if ka <= level(x) {
		return false
	}
	// The subtree of a spans [a - (2^ka - 1), a + (2^ka - 1)].
	span := NodeIndex(1)<<ka - 1
	return x >= a-span && x <= a+span
}

// commonAncestor is the lowest node whose subtree contains both x and y.
func commonAncestor(x, y NodeIndex) NodeIndex {
	lx, ly := level(x)+1, level(y)+1
	if lx <= ly && x>>ly == y>>ly {
		return y
	}
	if ly <= lx && x>>lx == y>>lx {
		return x
	}
	xn, yn := x, y
	k := uint(0)
	for xn != yn {
		xn, yn = xn>>1, yn>>1
		k++
	}
	return xn<<k + (1<<(k-1) - 1)
}
