package mls

import (
	"encoding/json"
	"os"
	"testing"
)

type treeMathVector struct {
	NLeaves uint32    `json:"n_leaves"`
	NNodes  uint32    `json:"n_nodes"`
	Root    uint32    `json:"root"`
	Left    []*uint32 `json:"left"`
	Right   []*uint32 `json:"right"`
	Parent  []*uint32 `json:"parent"`
	Sibling []*uint32 `json:"sibling"`
}

// loadTreeVector decodes testdata/name into v, failing the test on error.
func loadTreeVector(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("read vector: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode vector %s: %v", name, err)
	}
}

func TestTreeMathVectors(t *testing.T) {
	var vs []treeMathVector
	loadTreeVector(t, "tree-math.json", &vs)
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	checked := 0
	for _, v := range vs {
		if got := nodeWidth(v.NLeaves); got != v.NNodes {
			t.Errorf("n=%d: nodeWidth=%d want %d", v.NLeaves, got, v.NNodes)
		}
		if got := root(v.NLeaves); uint32(got) != v.Root {
			t.Errorf("n=%d: root=%d want %d", v.NLeaves, got, v.Root)
		}
		r := root(v.NLeaves)
		for i := uint32(0); i < v.NNodes; i++ {
			x := NodeIndex(i)
			var l, rt, p, s *uint32
			if !x.IsLeaf() {
				l, rt = u32p(uint32(left(x))), u32p(uint32(right(x)))
			}
			if x != r {
				p, s = u32p(uint32(parent(x))), u32p(uint32(sibling(x)))
			}
			checkOpt(t, v.NLeaves, "left", i, l, v.Left[i])
			checkOpt(t, v.NLeaves, "right", i, rt, v.Right[i])
			checkOpt(t, v.NLeaves, "parent", i, p, v.Parent[i])
			checkOpt(t, v.NLeaves, "sibling", i, s, v.Sibling[i])
			checked += 4
		}
	}
	t.Logf("tree-math.json: %d cases ran, 0 skipped (%d relations checked)", len(vs), checked)
	if checked == 0 {
		t.Fatal("tree-math.json: no relation checked")
	}
}

func u32p(v uint32) *uint32 { return &v }

func checkOpt(t *testing.T, n uint32, what string, i uint32, got, want *uint32) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil || *got != *want:
		t.Errorf("n=%d %s(%d) = %v want %v", n, what, i, fmtOpt(got), fmtOpt(want))
	}
}

func fmtOpt(p *uint32) any {
	if p == nil {
		return "null"
	}
	return *p
}

func TestTreePaths(t *testing.T) {
	// RFC 9420 §4.1.2 example: 8 leaves.
	tests := []struct {
		leaf         LeafIndex
		direct, copa []NodeIndex
	}{
		{0, []NodeIndex{1, 3, 7}, []NodeIndex{2, 5, 11}},
		{1, []NodeIndex{1, 3, 7}, []NodeIndex{0, 5, 11}},
		{4, []NodeIndex{9, 11, 7}, []NodeIndex{10, 13, 3}},
		{6, []NodeIndex{13, 11, 7}, []NodeIndex{14, 9, 3}},
	}
	for _, tc := range tests {
		if got := directPath(tc.leaf.Node(), 8); !equalNodes(got, tc.direct) {
			t.Errorf("directPath(%d) = %v want %v", tc.leaf, got, tc.direct)
		}
		if got := copath(tc.leaf.Node(), 8); !equalNodes(got, tc.copa) {
			t.Errorf("copath(%d) = %v want %v", tc.leaf, got, tc.copa)
		}
	}
	if d := directPath(0, 1); len(d) != 0 {
		t.Errorf("directPath of lone root = %v", d)
	}
}

func TestCommonAncestor(t *testing.T) {
	const n = 64
	w := nodeWidth(n)
	for x := NodeIndex(0); uint32(x) < w; x++ {
		for y := NodeIndex(0); uint32(y) < w; y++ {
			want := slowCommonAncestor(x, y, n)
			if got := commonAncestor(x, y); got != want {
				t.Fatalf("commonAncestor(%d,%d)=%d want %d", x, y, got, want)
			}
			if got := isAncestor(x, y); got != (want == x && x != y) {
				t.Fatalf("isAncestor(%d,%d)=%v", x, y, got)
			}
		}
	}
}

func slowCommonAncestor(x, y NodeIndex, n uint32) NodeIndex {
	dx := append([]NodeIndex{x}, directPath(x, n)...)
	dy := append([]NodeIndex{y}, directPath(y, n)...)
	for _, a := range dx {
		for _, b := range dy {
			if a == b {
				return a
			}
		}
	}
	return root(n)
}

func equalNodes(a, b []NodeIndex) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
