package mls

import (
	"bytes"
	"slices"
	"testing"
)

type treeValidationCase struct {
	suiteField
	Tree        hexBytes      `json:"tree"`
	GroupID     hexBytes      `json:"group_id"`
	Resolutions [][]NodeIndex `json:"resolutions"`
	TreeHashes  []hexBytes    `json:"tree_hashes"`
}

// TestTreeValidationVectors checks, for every tree in
// tree-validation.json, the resolution and tree hash of every node, the
// re-encoding, every leaf signature and every parent hash.
func TestTreeValidationVectors(t *testing.T) {
	runVectors(t, "tree-validation.json", func(t *testing.T, s *suite, tc *treeValidationCase) {
		tree, err := ParseRatchetTree(s.id, tc.Tree)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if b, err := tree.Marshal(); err != nil || !bytes.Equal(b, tc.Tree) {
			t.Errorf("re-encoding differs (err %v)", err)
		}
		if len(tc.Resolutions) != len(tree.nodes) || len(tc.TreeHashes) != len(tree.nodes) {
			t.Fatalf("vector has %d/%d nodes, tree %d", len(tc.Resolutions), len(tc.TreeHashes), len(tree.nodes))
		}
		for x := range tree.nodes {
			got := tree.Resolution(NodeIndex(x))
			if !slices.Equal(got, tc.Resolutions[x]) && (len(got) != 0 || len(tc.Resolutions[x]) != 0) {
				t.Errorf("resolution(%d) = %v want %v", x, got, tc.Resolutions[x])
			}
			h, err := tree.NodeHash(NodeIndex(x))
			if err != nil {
				t.Fatal(err)
			}
			checkHex(t, "tree hash", h, tc.TreeHashes[x])
		}
		if err := tree.Validate(TreeCheck{GroupID: tc.GroupID}); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}
