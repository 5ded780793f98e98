package mls

// LeafNode returns the leaf at i in the tree of the epoch the pending
// Commit creates (nil for a blank or absent leaf), for example to tell
// the Delivery Service which leaf each added member got.
func (pc *PendingCommit) LeafNode(i LeafIndex) *LeafNode {
	if pc == nil || pc.tree == nil {
		return nil
	}
	return pc.tree.Leaf(i)
}
