package mls

import (
	"bytes"
	"testing"
)

// FuzzParseKeyPackage checks that every KeyPackage the parser accepts
// re-encodes to the same bytes and that validation never panics.
func FuzzParseKeyPackage(f *testing.F) {
	for i, cs := range testSuites {
		kp, _, _ := newTestKeyPackage(f, cs, byte(i))
		b, err := kp.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		kp, err := ParseKeyPackage(data)
		if err != nil {
			return
		}
		b, err := kp.Marshal()
		if err != nil {
			t.Fatalf("marshal of parsed key package: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("round trip changed bytes:\n in %x\nout %x", data, b)
		}
		_ = kp.Validate(kp.CipherSuite, kpNow, nil)
		_, _ = kp.Ref()
	})
}

// FuzzParseRatchetTree checks that every tree the parser accepts
// re-encodes to the same bytes, and that hashing, resolution and
// validation never panic on it.
func FuzzParseRatchetTree(f *testing.F) {
	for _, name := range []string{"tree-validation.json", "treekem.json"} {
		var cases []struct {
			CipherSuite CipherSuite `json:"cipher_suite"`
			Tree        hexBytes    `json:"tree"`
			RatchetTree hexBytes    `json:"ratchet_tree"`
		}
		loadTreeVector(f, name, &cases)
		for _, tc := range cases {
			if tc.CipherSuite == 1 {
				f.Add([]byte(append(tc.Tree, tc.RatchetTree...)))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, err := ParseRatchetTree(1, data)
		if err != nil {
			return
		}
		b, err := tree.Marshal()
		if err != nil {
			t.Fatalf("marshal of parsed tree: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("round trip changed bytes:\n in %x\nout %x", data, b)
		}
		_, _ = tree.TreeHash()
		for x := range tree.nodes {
			_ = tree.Resolution(NodeIndex(x))
		}
		_ = tree.Validate(TreeCheck{})
		_ = tree.VerifyParentHashes()
	})
}

// FuzzParseLeafNode checks that every LeafNode the parser accepts
// re-encodes to the same bytes and that validation never panics.
func FuzzParseLeafNode(f *testing.F) {
	for i, cs := range testSuites {
		kp, _, _ := newTestKeyPackage(f, cs, byte(i))
		b, err := kp.LeafNode.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ln, err := ParseLeafNode(data)
		if err != nil {
			return
		}
		b, err := ln.Marshal()
		if err != nil {
			t.Fatalf("marshal of parsed leaf node: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("round trip changed bytes:\n in %x\nout %x", data, b)
		}
		_ = ln.Validate(1, LeafNodeCheck{Source: ln.Source, Now: kpNow})
	})
}
