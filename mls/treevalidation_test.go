package mls

import (
	"bytes"
	"errors"
	"testing"
)

// vectorTree returns the tree of case i of tree-validation.json.
func vectorTree(t *testing.T, i int) (*RatchetTree, *treeValidationCase) {
	t.Helper()
	cases := loadVectors[treeValidationCase](t, "tree-validation.json")
	tc := &cases[i]
	tree, err := ParseRatchetTree(tc.cipherSuite(), tc.Tree)
	if err != nil {
		t.Fatal(err)
	}
	return tree, tc
}

// firstParent returns the lowest-index non-blank parent node.
func firstParent(t *testing.T, tree *RatchetTree) NodeIndex {
	for x := NodeIndex(1); int(x) < len(tree.nodes); x += 2 {
		if tree.nodes[x].parent != nil {
			return x
		}
	}
	t.Fatal("tree has no parent node")
	return 0
}

func TestTreeParentHashMismatch(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *ParentNode)
	}{
		{"parent_hash changed", func(p *ParentNode) { p.ParentHash = append(bytes.Clone(p.ParentHash), 0) }},
		{"encryption key changed", func(p *ParentNode) {
			p.EncryptionKey = bytes.Clone(p.EncryptionKey)
			p.EncryptionKey[0] ^= 1
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree, _ := vectorTree(t, 2) // suite 1, 4 full leaves
			x := firstParent(t, tree)
			p := *tree.nodes[x].parent
			tc.mutate(&p)
			tree.setParent(x, &p)
			err := tree.VerifyParentHashes()
			var phe *ParentHashError
			if !errors.As(err, &phe) || !errors.Is(err, ErrParentHash) {
				t.Fatalf("VerifyParentHashes = %v, want *ParentHashError", err)
			}
		})
	}
}

func TestTreeValidateBad(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, tree *RatchetTree)
		want   error
	}{
		{"leaf signature", func(t *testing.T, tree *RatchetTree) {
			ln := tree.Leaf(0).clone()
			ln.Signature[0] ^= 1
			tree.nodes[0].leaf = ln
		}, ErrBadSignature},
		{"duplicate encryption key", func(t *testing.T, tree *RatchetTree) {
			p := *tree.nodes[5].parent
			p.EncryptionKey = tree.nodes[1].parent.EncryptionKey
			tree.nodes[5].parent = &p
		}, ErrInvalidTree},
		{"unmerged leaf not below node", func(t *testing.T, tree *RatchetTree) {
			x := firstParent(t, tree)
			p := *tree.nodes[x].parent
			p.UnmergedLeaves = []LeafIndex{LeafIndex(tree.NumLeaves() - 1)}
			tree.nodes[x].parent = &p
		}, ErrInvalidTree},
		{"wrong group id", nil, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree, v := vectorTree(t, 2)
			gid := v.GroupID
			if tc.mutate != nil {
				tc.mutate(t, tree)
			} else {
				gid = []byte("other group")
			}
			if err := tree.Validate(TreeCheck{GroupID: gid}); !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseRatchetTreeMalformed(t *testing.T) {
	tree, v := vectorTree(t, 2)
	leaf, _ := tree.Leaf(0).Marshal()
	var par writer
	tree.nodes[firstParent(t, tree)].parent.encode(&par)
	var far writer
	farParent := *tree.nodes[firstParent(t, tree)].parent
	farParent.UnmergedLeaves = []LeafIndex{5}
	farParent.encode(&far)
	node := func(typ NodeType, body []byte) []byte { return append([]byte{1, byte(typ)}, body...) }
	vec := func(entries ...[]byte) []byte {
		var w writer
		w.Vector(func(w *writer) {
			for _, e := range entries {
				w.Raw(e)
			}
		})
		return w.b
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", vec(), ErrMalformed},
		{"trailing blank", vec(node(NodeTypeLeaf, leaf), []byte{0}), ErrMalformed},
		{"only blank", vec([]byte{0}), ErrMalformed},
		{"leaf at parent position", vec(node(NodeTypeLeaf, leaf), node(NodeTypeLeaf, leaf)), ErrMalformed},
		{"parent at leaf position", vec(node(NodeTypeParent, par.b)), ErrMalformed},
		{"unknown node type", vec(node(3, leaf)), ErrMalformed},
		{"bad optional octet", vec([]byte{2, 1}, leaf), ErrMalformed},
		{"unmerged leaf outside subtree", vec(node(NodeTypeLeaf, leaf), node(NodeTypeParent, far.b), node(NodeTypeLeaf, leaf)), ErrInvalidTree},
		{"truncated", v.Tree[:len(v.Tree)-1], ErrMalformed},
		{"trailing byte", append(bytes.Clone(v.Tree), 0), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseRatchetTree(1, tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("ParseRatchetTree = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParseRatchetTree(4, v.Tree); !errors.Is(err, ErrUnsupportedSuite) {
		t.Fatalf("suite 4: err = %v", err)
	}
	// A single leaf followed by a parent is padded to a full tree.
	got, err := ParseRatchetTree(1, vec(node(NodeTypeLeaf, leaf), []byte{0}, node(NodeTypeLeaf, leaf)))
	if err != nil || got.NumLeaves() != 2 {
		t.Fatalf("two-leaf tree: %v", err)
	}
}
