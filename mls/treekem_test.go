package mls

import (
	"bytes"
	"errors"
	"testing"
)

type treeKEMCase struct {
	suiteField
	GroupID                 hexBytes             `json:"group_id"`
	Epoch                   uint64               `json:"epoch"`
	ConfirmedTranscriptHash hexBytes             `json:"confirmed_transcript_hash"`
	RatchetTree             hexBytes             `json:"ratchet_tree"`
	LeavesPrivate           []treeKEMLeafPrivate `json:"leaves_private"`
	UpdatePaths             []treeKEMUpdatePath  `json:"update_paths"`
}

type treeKEMLeafPrivate struct {
	Index          LeafIndex `json:"index"`
	EncryptionPriv hexBytes  `json:"encryption_priv"`
	SignaturePriv  hexBytes  `json:"signature_priv"`
	PathSecrets    []struct {
		Node       NodeIndex `json:"node"`
		PathSecret hexBytes  `json:"path_secret"`
	} `json:"path_secrets"`
}

type treeKEMUpdatePath struct {
	Sender        LeafIndex  `json:"sender"`
	UpdatePath    hexBytes   `json:"update_path"`
	PathSecrets   []hexBytes `json:"path_secrets"`
	CommitSecret  hexBytes   `json:"commit_secret"`
	TreeHashAfter hexBytes   `json:"tree_hash_after"`
}

// treeKEMState is the public tree and every member's private state for
// one treekem.json case.
type treeKEMState struct {
	tc    *treeKEMCase
	tree  *RatchetTree
	privs map[LeafIndex]*TreePrivate
	sigs  map[LeafIndex]*SignaturePrivateKey
}

// TestTreeKEMVectors checks for every case of treekem.json: the private
// states against the tree; for every update path, its parent hashes, the
// path secret and commit secret every other member decrypts, and the tree
// hash after merging; then a freshly generated path from the same
// sender, processed by every other member.
func TestTreeKEMVectors(t *testing.T) {
	runVectors(t, "treekem.json", func(t *testing.T, s *suite, tc *treeKEMCase) {
		st := newTreeKEMState(t, s, tc)
		for _, up := range tc.UpdatePaths {
			st.checkVectorPath(t, &up)
			st.checkNewPath(t, up.Sender)
		}
	})
}

func newTreeKEMState(t *testing.T, s *suite, tc *treeKEMCase) *treeKEMState {
	t.Helper()
	tree, err := ParseRatchetTree(s.id, tc.RatchetTree)
	if err != nil {
		t.Fatalf("parse tree: %v", err)
	}
	st := &treeKEMState{tc: tc, tree: tree, privs: map[LeafIndex]*TreePrivate{}, sigs: map[LeafIndex]*SignaturePrivateKey{}}
	for _, lp := range tc.LeavesPrivate {
		enc, err := s.id.NewHPKEPrivateKey(lp.EncryptionPriv)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewTreePrivate(s.id, lp.Index, enc)
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range lp.PathSecrets {
			if err := p.SetPathSecret(ps.Node, ps.PathSecret); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.CheckTree(tree); err != nil {
			t.Fatalf("leaf %d private state: %v", lp.Index, err)
		}
		if st.sigs[lp.Index], err = s.id.NewSignaturePrivateKey(lp.SignaturePriv); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(st.sigs[lp.Index].PublicKey(), tree.Leaf(lp.Index).SignatureKey) {
			t.Fatalf("leaf %d signature key differs from the tree", lp.Index)
		}
		st.privs[lp.Index] = p
	}
	for i := LeafIndex(0); uint32(i) < tree.NumLeaves(); i++ {
		if tree.Leaf(i) != nil && st.privs[i] == nil {
			t.Fatalf("no private state for non-blank leaf %d", i)
		}
	}
	return st
}

// groupContext encodes the provisional GroupContext for tree hash th.
func (st *treeKEMState) groupContext(t *testing.T, th []byte) []byte {
	t.Helper()
	gc := GroupContext{
		Version: ProtocolVersionMLS10, CipherSuite: st.tree.cs, GroupID: st.tc.GroupID,
		Epoch: st.tc.Epoch, TreeHash: th, ConfirmedTranscriptHash: st.tc.ConfirmedTranscriptHash,
	}
	b, err := gc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (st *treeKEMState) checkVectorPath(t *testing.T, v *treeKEMUpdatePath) {
	t.Helper()
	up, err := ParseUpdatePath(v.UpdatePath)
	if err != nil {
		t.Fatalf("parse update path: %v", err)
	}
	merged := st.tree.Clone()
	if err := merged.MergeUpdatePath(v.Sender, up, st.tc.GroupID, nil); err != nil {
		t.Fatalf("merge path from %d: %v", v.Sender, err)
	}
	th, err := merged.TreeHash()
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "tree hash after", th, v.TreeHashAfter)
	if err := merged.VerifyParentHashes(); err != nil {
		t.Errorf("tree after vector path: %v", err)
	}
	gc := st.groupContext(t, th)
	if len(v.PathSecrets) != int(st.tree.NumLeaves()) {
		t.Fatalf("%d path secrets for %d leaves", len(v.PathSecrets), st.tree.NumLeaves())
	}
	for j, want := range v.PathSecrets {
		p := st.privs[LeafIndex(j)]
		if p == nil || LeafIndex(j) == v.Sender {
			if want != nil {
				t.Fatalf("path secret given for leaf %d, which cannot decrypt", j)
			}
			continue
		}
		p = p.Clone()
		ps, commit, err := p.decryptPath(merged, v.Sender, up, gc, nil)
		if err != nil {
			t.Fatalf("leaf %d: decrypt: %v", j, err)
		}
		checkHex(t, "path secret", ps, want)
		checkHex(t, "commit secret", commit, v.CommitSecret)
		if err := p.CheckTree(merged); err != nil {
			t.Fatalf("leaf %d after path: %v", j, err)
		}
	}
}

// checkNewPath generates a path for sender and has every other member
// process it (through the wire encoding).
func (st *treeKEMState) checkNewPath(t *testing.T, sender LeafIndex) {
	t.Helper()
	prov := st.tree.Clone()
	pp, err := prov.PrepareUpdatePath(st.privs[sender], PathParams{GroupID: st.tc.GroupID, SignatureKey: st.sigs[sender], Rand: testRand(byte(sender))})
	if err != nil {
		t.Fatalf("prepare path: %v", err)
	}
	th, err := prov.TreeHash()
	if err != nil {
		t.Fatal(err)
	}
	gc := st.groupContext(t, th)
	up, err := pp.Encrypt(gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pp.Private().CheckTree(prov); err != nil {
		t.Fatalf("committer private state: %v", err)
	}
	b, err := up.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if up, err = ParseUpdatePath(b); err != nil {
		t.Fatal(err)
	}
	merged := st.tree.Clone()
	if err := merged.MergeUpdatePath(sender, up, st.tc.GroupID, nil); err != nil {
		t.Fatalf("merge new path: %v", err)
	}
	mth, _ := merged.TreeHash()
	checkHex(t, "merged tree hash", mth, th)
	if err := merged.VerifyParentHashes(); err != nil {
		t.Errorf("tree after new path: %v", err)
	}
	for j, p := range st.privs {
		if j == sender {
			continue
		}
		commit, err := p.Clone().DecryptUpdatePath(merged, sender, up, gc, nil)
		if err != nil {
			t.Fatalf("leaf %d: %v", j, err)
		}
		checkHex(t, "new commit secret", commit, pp.CommitSecret())
	}
}

// newPath builds a fresh UpdatePath from sender over st.tree, returning
// it with the provisional GroupContext and the pending path.
func (st *treeKEMState) newPath(t *testing.T, tree *RatchetTree, sender LeafIndex, exclude []LeafIndex) (*UpdatePath, []byte, *PendingPath) {
	t.Helper()
	prov := tree.Clone()
	pp, err := prov.PrepareUpdatePath(st.privs[sender], PathParams{GroupID: st.tc.GroupID, SignatureKey: st.sigs[sender], Rand: testRand(99)})
	if err != nil {
		t.Fatal(err)
	}
	th, _ := prov.TreeHash()
	gc := st.groupContext(t, th)
	up, err := pp.Encrypt(gc, exclude)
	if err != nil {
		t.Fatal(err)
	}
	return up, gc, pp
}

func suite1TreeKEM(t *testing.T) *treeKEMState {
	t.Helper()
	cases := loadVectors[treeKEMCase](t, "treekem.json")
	tc := &cases[6] // suite 1, 8 members
	s, _ := tc.cipherSuite().suite()
	return newTreeKEMState(t, s, tc)
}

func TestMergeUpdatePathBad(t *testing.T) {
	st := suite1TreeKEM(t)
	const sender = LeafIndex(2)
	resign := func(t *testing.T, up *UpdatePath) {
		if err := up.LeafNode.Sign(st.tree.cs, st.sigs[sender], st.tc.GroupID, sender); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, up *UpdatePath)
		want   error
	}{
		{"leaf parent hash", func(t *testing.T, up *UpdatePath) {
			up.LeafNode.ParentHash = bytes.Repeat([]byte{7}, 32)
			resign(t, up)
		}, ErrParentHash},
		{"path key swapped", func(t *testing.T, up *UpdatePath) {
			up.Nodes[0].EncryptionKey, up.Nodes[1].EncryptionKey = up.Nodes[1].EncryptionKey, up.Nodes[0].EncryptionKey
		}, ErrParentHash},
		{"leaf signature", func(t *testing.T, up *UpdatePath) { up.LeafNode.Signature[1] ^= 1 }, ErrBadSignature},
		{"missing node", func(t *testing.T, up *UpdatePath) { up.Nodes = up.Nodes[1:] }, ErrInvalidUpdatePath},
		{"extra ciphertext", func(t *testing.T, up *UpdatePath) {
			up.Nodes[0].EncryptedPathSecret = append(up.Nodes[0].EncryptedPathSecret, up.Nodes[0].EncryptedPathSecret[0])
		}, ErrInvalidUpdatePath},
		{"leaf source update", func(t *testing.T, up *UpdatePath) {
			up.LeafNode.Source = LeafNodeSourceUpdate
			resign(t, up)
		}, ErrInvalidLeafNode},
		{"reused member key", func(t *testing.T, up *UpdatePath) {
			up.Nodes[0].EncryptionKey = st.tree.Leaf(5).EncryptionKey
		}, ErrInvalidUpdatePath},
		{"old leaf key kept", func(t *testing.T, up *UpdatePath) {
			up.LeafNode.EncryptionKey = st.tree.Leaf(sender).EncryptionKey
			resign(t, up)
		}, ErrInvalidUpdatePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, _, _ := st.newPath(t, st.tree, sender, nil)
			tc.mutate(t, up)
			tree := st.tree.Clone()
			before, _ := tree.Marshal()
			err := tree.MergeUpdatePath(sender, up, st.tc.GroupID, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("MergeUpdatePath = %v, want %v", err, tc.want)
			}
			if after, _ := tree.Marshal(); !bytes.Equal(before, after) {
				t.Fatal("tree changed on error")
			}
		})
	}
	var phe *ParentHashError
	up, _, _ := st.newPath(t, st.tree, sender, nil)
	up.LeafNode.ParentHash = nil
	resign(t, up)
	if err := st.tree.Clone().MergeUpdatePath(sender, up, st.tc.GroupID, nil); !errors.As(err, &phe) || phe.Node != sender.Node() {
		t.Fatalf("want *ParentHashError at the sender's leaf, got %v", err)
	}
}

func TestDecryptUpdatePathBad(t *testing.T) {
	st := suite1TreeKEM(t)
	const sender, receiver = LeafIndex(0), LeafIndex(7)
	tests := []struct {
		name   string
		mutate func(up *UpdatePath, gc []byte) []byte
		want   error
	}{
		{"ciphertext", func(up *UpdatePath, gc []byte) []byte {
			ct := &up.Nodes[len(up.Nodes)-1].EncryptedPathSecret[0]
			ct.Ciphertext = bytes.Clone(ct.Ciphertext)
			ct.Ciphertext[0] ^= 1
			return gc
		}, ErrDecrypt},
		{"group context", func(up *UpdatePath, gc []byte) []byte { return append(bytes.Clone(gc), 0) }, ErrDecrypt},
		{"root key", func(up *UpdatePath, gc []byte) []byte {
			up.Nodes[len(up.Nodes)-1].EncryptionKey = up.Nodes[0].EncryptionKey
			return gc
		}, ErrInvalidUpdatePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, gc, _ := st.newPath(t, st.tree, sender, nil)
			merged := st.tree.Clone()
			if err := merged.MergeUpdatePath(sender, up, st.tc.GroupID, nil); err != nil {
				t.Fatal(err)
			}
			gc = tc.mutate(up, gc)
			p := st.privs[receiver].Clone()
			if _, err := p.DecryptUpdatePath(merged, sender, up, gc, nil); !errors.Is(err, tc.want) {
				t.Fatalf("DecryptUpdatePath = %v, want %v", err, tc.want)
			}
			if err := p.CheckTree(st.tree); err != nil {
				t.Fatalf("private state changed on error: %v", err)
			}
		})
	}
}

// TestUpdatePathExcludesNewMembers adds a member and commits in one step:
// the joiner gets no ciphertext and cannot decrypt; everyone else agrees
// on the commit secret.
func TestUpdatePathExcludesNewMembers(t *testing.T) {
	st := suite1TreeKEM(t)
	kp, _, _ := newTestKeyPackage(t, st.tree.cs, 77)
	tree := st.tree.Clone()
	joiner, err := tree.AddLeaf(&kp.LeafNode)
	if err != nil {
		t.Fatal(err)
	}
	exclude := []LeafIndex{joiner}
	up, gc, pp := st.newPath(t, tree, 1, exclude)
	withJoiner, _, _ := st.newPath(t, tree, 1, nil)
	if countCiphertexts(up)+1 != countCiphertexts(withJoiner) {
		t.Fatalf("exclusion should drop exactly one ciphertext: %d vs %d", countCiphertexts(up), countCiphertexts(withJoiner))
	}
	if err := tree.MergeUpdatePath(1, up, st.tc.GroupID, exclude); err != nil {
		t.Fatal(err)
	}
	for j, p := range st.privs {
		if j == 1 {
			continue
		}
		commit, err := p.Clone().DecryptUpdatePath(tree, 1, up, gc, exclude)
		if err != nil {
			t.Fatalf("leaf %d: %v", j, err)
		}
		checkHex(t, "commit secret", commit, pp.CommitSecret())
	}
	if err := tree.MergeUpdatePath(1, up, st.tc.GroupID, nil); err == nil {
		t.Fatal("merge without the exclusion list must fail")
	}
	// The joiner gets its path secret through the Welcome instead.
	_, ps, ok := pp.PathSecretFor(joiner)
	if !ok {
		t.Fatal("no path secret for the joiner")
	}
	jp, _ := NewTreePrivate(st.tree.cs, joiner, nil)
	delete(jp.keys, joiner.Node())
	commit, err := jp.SetWelcomePathSecret(tree, 1, ps)
	if err != nil {
		t.Fatalf("joiner: %v", err)
	}
	checkHex(t, "joiner commit secret", commit, pp.CommitSecret())
	if _, err := jp.SetWelcomePathSecret(tree, 1, make([]byte, 32)); !errors.Is(err, ErrBadKey) {
		t.Fatalf("wrong path secret: %v", err)
	}
}

func countCiphertexts(up *UpdatePath) int {
	n := 0
	for _, node := range up.Nodes {
		n += len(node.EncryptedPathSecret)
	}
	return n
}
