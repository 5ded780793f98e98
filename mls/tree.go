package mls

import (
	"bytes"
	"fmt"
	"slices"
)

// The ratchet tree (RFC 9420, Sections 4 and 7) in its array form: node
// 2i is leaf i, odd nodes are parents, and the width is always that of a
// tree with a power-of-two number of leaves. A blank node has neither a
// leaf nor a parent value.
//
// Node values are never mutated once stored: every change stores a new
// value, so a Clone shares them safely. Each node caches its tree hash;
// a change invalidates only the changed node and its ancestors.

// ParentNode is the content of a non-blank parent node (RFC 9420,
// Section 7.1).
type ParentNode struct {
	EncryptionKey  HPKEPublicKey
	ParentHash     []byte
	UnmergedLeaves []LeafIndex // sorted ascending
}

// NodeType tags a node in the ratchet_tree extension and tree hashes.
type NodeType uint8

// Node types.
const (
	NodeTypeLeaf   NodeType = 1
	NodeTypeParent NodeType = 2
)

type treeNode struct {
	leaf   *LeafNode
	parent *ParentNode
	hash   []byte // cached tree hash; nil when stale
}

func (n *treeNode) blank() bool { return n.leaf == nil && n.parent == nil }

// encryptionKey returns the node's HPKE public key (nil when blank).
func (n *treeNode) encryptionKey() HPKEPublicKey {
	switch {
	case n.leaf != nil:
		return n.leaf.EncryptionKey
	case n.parent != nil:
		return n.parent.EncryptionKey
	}
	return nil
}

// RatchetTree is the public state of a group's ratchet tree for one
// cipher suite. The zero value is not usable; see NewRatchetTree and
// ParseRatchetTree. A tree is not safe for concurrent use, not even for
// reads, since hashing fills its cache; Clone it per goroutine.
type RatchetTree struct {
	cs    CipherSuite
	s     *suite
	nodes []treeNode
}

// maxTreeLeaves bounds the trees this package builds or decodes.
const maxTreeLeaves = 1 << 20

// NewRatchetTree returns a one-leaf tree holding the group creator.
func NewRatchetTree(cs CipherSuite, creator *LeafNode) (*RatchetTree, error) {
	s, err := cs.suite()
	if err != nil {
		return nil, err
	}
	return &RatchetTree{cs: cs, s: s, nodes: []treeNode{{leaf: creator.clone()}}}, nil
}

// CipherSuite returns the tree's suite.
func (t *RatchetTree) CipherSuite() CipherSuite { return t.cs }

// NumLeaves returns the number of leaves, blank or not (a power of two).
func (t *RatchetTree) NumLeaves() uint32 { return uint32(len(t.nodes)+1) / 2 }

// Leaf returns the leaf node at i, or nil if it is blank or out of range.
// The result must not be modified.
func (t *RatchetTree) Leaf(i LeafIndex) *LeafNode {
	if uint32(i) >= t.NumLeaves() {
		return nil
	}
	return t.nodes[i.Node()].leaf
}

// Parent returns the parent node at x, or nil if it is blank or not a
// parent. The result must not be modified.
func (t *RatchetTree) Parent(x NodeIndex) *ParentNode {
	if int(x) >= len(t.nodes) || x.IsLeaf() {
		return nil
	}
	return t.nodes[x].parent
}

// Clone returns an independent copy of the tree (node values are shared
// since they are immutable).
func (t *RatchetTree) Clone() *RatchetTree {
	c := *t
	c.nodes = slices.Clone(t.nodes)
	return &c
}

func (t *RatchetTree) root() NodeIndex { return root(t.NumLeaves()) }

// invalidate drops the cached hash of x and of all its ancestors.
func (t *RatchetTree) invalidate(x NodeIndex) {
	t.nodes[x].hash = nil
	r := t.root()
	for x != r {
		x = parent(x)
		t.nodes[x].hash = nil
	}
}

// setLeaf stores ln (nil blanks the leaf).
func (t *RatchetTree) setLeaf(i LeafIndex, ln *LeafNode) {
	x := i.Node()
	t.nodes[x] = treeNode{leaf: ln}
	t.invalidate(x)
}

// setParent stores p (nil blanks the node).
func (t *RatchetTree) setParent(x NodeIndex, p *ParentNode) {
	t.nodes[x] = treeNode{parent: p}
	t.invalidate(x)
}

// pathSnapshot holds a leaf's node and its direct path's nodes, hash
// caches included: everything a path update changes.
type pathSnapshot struct {
	xs    []NodeIndex
	nodes []treeNode
}

// snapshotPath saves the nodes a path update of leaf i changes, so that
// a failed update can be undone without copying the whole tree.
func (t *RatchetTree) snapshotPath(i LeafIndex) pathSnapshot {
	xs := append([]NodeIndex{i.Node()}, directPath(i.Node(), t.NumLeaves())...)
	s := pathSnapshot{xs: xs, nodes: make([]treeNode, len(xs))}
	for k, x := range xs {
		s.nodes[k] = t.nodes[x]
	}
	return s
}

// restore puts back the nodes of a snapshot.
func (t *RatchetTree) restore(s pathSnapshot) {
	for k, x := range s.xs {
		t.nodes[x] = s.nodes[k]
	}
}

// blankPath blanks every parent node on the direct path of leaf i.
func (t *RatchetTree) blankPath(i LeafIndex) {
	for _, x := range directPath(i.Node(), t.NumLeaves()) {
		t.nodes[x] = treeNode{}
	}
	t.invalidate(i.Node())
}

// AddLeaf places ln in the leftmost blank leaf, extending the tree if
// none is blank, and records it as unmerged at every non-blank ancestor
// (RFC 9420, Section 12.1.1). It returns the new leaf's index.
func (t *RatchetTree) AddLeaf(ln *LeafNode) (LeafIndex, error) {
	i, ok := t.firstBlankLeaf()
	if !ok {
		n := t.NumLeaves()
		if 2*n > maxTreeLeaves {
			return 0, fmt.Errorf("%w: more than %d leaves", ErrInvalidTree, maxTreeLeaves)
		}
		t.nodes = append(t.nodes, make([]treeNode, nodeWidth(2*n)-nodeWidth(n))...)
		i = LeafIndex(n)
	}
	t.setLeaf(i, ln.clone())
	for _, x := range directPath(i.Node(), t.NumLeaves()) {
		if p := t.nodes[x].parent; p != nil {
			np := *p
			np.UnmergedLeaves = insertSorted(p.UnmergedLeaves, i)
			t.nodes[x].parent = &np
		}
	}
	return i, nil
}

func insertSorted(s []LeafIndex, v LeafIndex) []LeafIndex {
	pos, found := slices.BinarySearch(s, v)
	if found {
		return slices.Clone(s)
	}
	return slices.Insert(slices.Clone(s), pos, v)
}

func (t *RatchetTree) firstBlankLeaf() (LeafIndex, bool) {
	for i := LeafIndex(0); uint32(i) < t.NumLeaves(); i++ {
		if t.nodes[i.Node()].leaf == nil {
			return i, true
		}
	}
	return 0, false
}

// UpdateLeaf replaces the leaf at i and blanks its direct path (an Update
// proposal, RFC 9420, Section 12.1.2).
func (t *RatchetTree) UpdateLeaf(i LeafIndex, ln *LeafNode) error {
	if t.Leaf(i) == nil {
		return fmt.Errorf("%w: update of blank leaf %d", ErrInvalidTree, i)
	}
	t.blankPath(i)
	t.setLeaf(i, ln.clone())
	return nil
}

// RemoveLeaf blanks leaf i and its direct path, then truncates the tree
// (a Remove proposal, RFC 9420, Section 12.1.3).
func (t *RatchetTree) RemoveLeaf(i LeafIndex) error {
	if t.Leaf(i) == nil {
		return fmt.Errorf("%w: remove of blank leaf %d", ErrInvalidTree, i)
	}
	t.blankPath(i)
	t.setLeaf(i, nil)
	t.truncate()
	return nil
}

// truncate halves the tree while its right half holds no leaf.
func (t *RatchetTree) truncate() {
	last := -1
	for i := int(t.NumLeaves()) - 1; i >= 0; i-- {
		if t.nodes[2*i].leaf != nil {
			last = i
			break
		}
	}
	n := t.NumLeaves()
	for n > 1 && int(n/2) > last {
		n /= 2
	}
	t.nodes = t.nodes[:nodeWidth(n):nodeWidth(n)]
}

// Resolution returns the resolution of node x (RFC 9420, Section 4.1.1):
// x itself and its unmerged leaves if x is not blank, else the
// resolutions of its children; empty for a blank leaf.
func (t *RatchetTree) Resolution(x NodeIndex) []NodeIndex {
	return t.appendResolution(nil, x, nil)
}

// appendResolution appends the resolution of x, leaving out the leaves in
// exclude (new members added by the same Commit).
func (t *RatchetTree) appendResolution(dst []NodeIndex, x NodeIndex, exclude []LeafIndex) []NodeIndex {
	n := &t.nodes[x]
	switch {
	case n.leaf != nil:
		if !slices.Contains(exclude, x.Leaf()) {
			dst = append(dst, x)
		}
	case n.parent != nil:
		dst = append(dst, x)
		for _, l := range n.parent.UnmergedLeaves {
			if !slices.Contains(exclude, l) {
				dst = append(dst, l.Node())
			}
		}
	case !x.IsLeaf():
		dst = t.appendResolution(dst, left(x), exclude)
		dst = t.appendResolution(dst, right(x), exclude)
	}
	return dst
}

// subtreeBlank reports whether every node under x is blank, that is,
// whether its resolution is empty.
func (t *RatchetTree) subtreeBlank(x NodeIndex) bool {
	if !t.nodes[x].blank() {
		return false
	}
	if x.IsLeaf() {
		return true
	}
	return t.subtreeBlank(left(x)) && t.subtreeBlank(right(x))
}

// filteredDirectPath returns the direct path of leaf i without the nodes
// whose copath child has an empty resolution, together with those copath
// children (RFC 9420, Section 4.1.2).
func (t *RatchetTree) filteredDirectPath(i LeafIndex) (path, copathNodes []NodeIndex) {
	n := t.NumLeaves()
	dp, cp := directPath(i.Node(), n), copath(i.Node(), n)
	for k := range dp {
		if !t.subtreeBlank(cp[k]) {
			path = append(path, dp[k])
			copathNodes = append(copathNodes, cp[k])
		}
	}
	return path, copathNodes
}

// FindLeaf returns the index of the leaf equal to ln (same encoding).
func (t *RatchetTree) FindLeaf(ln *LeafNode) (LeafIndex, bool) {
	want, err := ln.Marshal()
	if err != nil {
		return 0, false
	}
	for i := LeafIndex(0); uint32(i) < t.NumLeaves(); i++ {
		if l := t.Leaf(i); l != nil && bytes.Equal(l.EncryptionKey, ln.EncryptionKey) {
			if got, err := l.Marshal(); err == nil && bytes.Equal(got, want) {
				return i, true
			}
		}
	}
	return 0, false
}
