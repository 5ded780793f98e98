package mls

import (
	"bytes"
	"errors"
	"testing"
)

type treeOperationsCase struct {
	suiteField
	TreeBefore     hexBytes  `json:"tree_before"`
	Proposal       hexBytes  `json:"proposal"`
	ProposalSender LeafIndex `json:"proposal_sender"`
	TreeHashBefore hexBytes  `json:"tree_hash_before"`
	TreeAfter      hexBytes  `json:"tree_after"`
	TreeHashAfter  hexBytes  `json:"tree_hash_after"`
}

// applyTestProposal decodes an Add, Update or Remove proposal and applies
// it to tree as sent by sender.
func applyTestProposal(t *testing.T, tree *RatchetTree, data []byte, sender LeafIndex) {
	t.Helper()
	var apply func() error
	err := unmarshal(data, func(r *reader) {
		switch ProposalType(r.Uint16()) {
		case ProposalAdd:
			kp := decodeKeyPackage(r)
			apply = func() error { _, err := tree.AddLeaf(&kp.LeafNode); return err }
		case ProposalUpdate:
			ln := decodeLeafNode(r)
			apply = func() error { return tree.UpdateLeaf(sender, &ln) }
		case ProposalRemove:
			removed := LeafIndex(r.Uint32())
			apply = func() error { return tree.RemoveLeaf(removed) }
		default:
			r.fail(ErrMalformed)
		}
	})
	if err != nil {
		t.Fatalf("decode proposal: %v", err)
	}
	if err := apply(); err != nil {
		t.Fatalf("apply proposal: %v", err)
	}
}

// TestTreeOperationsVectors applies each proposal of tree-operations.json
// (the file holds suite 1 cases only) and checks both tree hashes and
// the encoded tree after.
func TestTreeOperationsVectors(t *testing.T) {
	cases := loadVectors[treeOperationsCase](t, "tree-operations.json")
	ran, skipped := 0, 0
	for i, tc := range cases {
		cs := tc.cipherSuite()
		if skippedSuite(cs) {
			skipped++
			continue
		}
		tree, err := ParseRatchetTree(cs, tc.TreeBefore)
		if err != nil {
			t.Fatalf("case %d: parse: %v", i, err)
		}
		before, err := tree.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		checkHex(t, "tree hash before", before, tc.TreeHashBefore)
		applyTestProposal(t, tree, tc.Proposal, tc.ProposalSender)
		after, err := tree.Marshal()
		if err != nil || !bytes.Equal(after, tc.TreeAfter) {
			t.Errorf("case %d: tree after differs (err %v)", i, err)
		}
		h, err := tree.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		checkHex(t, "tree hash after", h, tc.TreeHashAfter)
		// The cached hashes must equal a fresh computation.
		fresh, _ := ParseRatchetTree(cs, after)
		fh, _ := fresh.TreeHash()
		checkHex(t, "fresh tree hash", fh, h)
		ran++
	}
	t.Logf("tree-operations.json: %d cases ran, %d skipped (suites 4 and 6)", ran, skipped)
	if ran != len(cases)-skipped || ran == 0 {
		t.Fatal("not every case ran")
	}
}

// TestTreeOpsCacheConsistency runs a sequence of adds, updates and
// removes for every suite and checks after each step that the cached
// tree hash equals a from-scratch computation and that the tree has the
// expected width.
func TestTreeOpsCacheConsistency(t *testing.T) {
	for _, cs := range testSuites {
		t.Run(cs.String(), func(t *testing.T) {
			leaves := make([]*LeafNode, 12)
			for i := range leaves {
				kp, _, _ := newTestKeyPackage(t, cs, byte(i+10))
				leaves[i] = &kp.LeafNode
			}
			tree, err := NewRatchetTree(cs, leaves[0])
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				op    string
				leaf  LeafIndex
				width uint32
			}{
				{"add", 1, 2}, {"add", 2, 4}, {"add", 3, 4}, {"add", 4, 8}, {"update", 2, 8},
				{"remove", 4, 4}, {"remove", 1, 4}, {"add", 1, 4}, {"add", 4, 8}, {"remove", 4, 4},
				{"remove", 3, 4}, {"remove", 2, 2}, {"remove", 1, 1},
			}
			next := 1
			for k, st := range steps {
				switch st.op {
				case "add":
					i, err := tree.AddLeaf(leaves[next])
					next++
					if err != nil || i != st.leaf {
						t.Fatalf("step %d: add = %d, %v; want %d", k, i, err, st.leaf)
					}
				case "update":
					err = tree.UpdateLeaf(st.leaf, leaves[next])
					next++
				case "remove":
					err = tree.RemoveLeaf(st.leaf)
				}
				if err != nil {
					t.Fatalf("step %d: %v", k, err)
				}
				if tree.NumLeaves() != st.width {
					t.Fatalf("step %d: %d leaves, want %d", k, tree.NumLeaves(), st.width)
				}
				checkFreshHash(t, tree)
			}
		})
	}
}

func checkFreshHash(t *testing.T, tree *RatchetTree) {
	t.Helper()
	b, err := tree.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := ParseRatchetTree(tree.cs, b)
	if err != nil {
		t.Fatal(err)
	}
	h1, err1 := tree.TreeHash()
	h2, err2 := fresh.TreeHash()
	if err1 != nil || err2 != nil || !bytes.Equal(h1, h2) {
		t.Fatalf("cached tree hash %x differs from fresh %x (%v, %v)", h1, h2, err1, err2)
	}
}

func TestCheckLeafFits(t *testing.T) {
	kps := make([]*KeyPackage, 3)
	for i := range kps {
		kps[i], _, _ = newTestKeyPackage(t, 1, byte(40+i))
	}
	tree, _ := NewRatchetTree(1, &kps[0].LeafNode)
	if _, err := tree.AddLeaf(&kps[1].LeafNode); err != nil {
		t.Fatal(err)
	}
	x509 := kps[2].LeafNode
	x509.Credential = Credential{Type: CredentialX509, Certificates: [][]byte{{1}}}
	x509.Capabilities.Credentials = []CredentialType{CredentialBasic, CredentialX509}
	sameEnc := kps[2].LeafNode
	sameEnc.EncryptionKey = kps[0].LeafNode.EncryptionKey
	sameSig := kps[2].LeafNode
	sameSig.SignatureKey = kps[1].LeafNode.SignatureKey
	tests := []struct {
		name  string
		check func() error
		ok    bool
	}{
		{"fresh leaf", func() error { return tree.CheckAddLeaf(&kps[2].LeafNode) }, true},
		{"reused encryption key", func() error { return tree.CheckAddLeaf(&sameEnc) }, false},
		{"reused signature key", func() error { return tree.CheckAddLeaf(&sameSig) }, false},
		{"credential type unsupported by members", func() error { return tree.CheckAddLeaf(&x509) }, false},
		{"update to a fresh key", func() error { return tree.CheckUpdateLeaf(1, &kps[2].LeafNode) }, true},
		{"update keeping the key", func() error { return tree.CheckUpdateLeaf(1, &kps[1].LeafNode) }, false},
		{"update of blank leaf", func() error { return tree.CheckUpdateLeaf(3, &kps[2].LeafNode) }, false},
	}
	for _, tc := range tests {
		err := tc.check()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidLeafNode)) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

// TestUpdateLeafPrivate applies an Update proposal made with NewUpdateLeaf
// and checks the member's private state follows the tree.
func TestUpdateLeafPrivate(t *testing.T) {
	st := suite1TreeKEM(t)
	const me = LeafIndex(3)
	old := st.tree.Leaf(me)
	ln, k, err := NewUpdateLeaf(1, old, st.sigs[me], st.tc.GroupID, me, testRand(5))
	if err != nil {
		t.Fatal(err)
	}
	check := LeafNodeCheck{Source: LeafNodeSourceUpdate, GroupID: st.tc.GroupID, Leaf: me}
	if err := ln.Validate(1, check); err != nil {
		t.Fatalf("update leaf: %v", err)
	}
	if err := st.tree.CheckUpdateLeaf(me, ln); err != nil {
		t.Fatal(err)
	}
	tree := st.tree.Clone()
	if err := tree.UpdateLeaf(me, ln); err != nil {
		t.Fatal(err)
	}
	p := st.privs[me].Clone()
	p.SetLeafKey(k)
	if err := p.CheckTree(tree); err == nil {
		t.Fatal("stale path keys should not match the updated tree")
	}
	p.Prune(tree)
	if err := p.CheckTree(tree); err != nil {
		t.Fatalf("after prune: %v", err)
	}
	if len(p.keys) != 1 {
		t.Fatalf("%d keys left, want only the leaf's", len(p.keys))
	}
}
