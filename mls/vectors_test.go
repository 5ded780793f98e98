package mls

// Shared loader for the MLS working group's test vectors in testdata/.
//
// API (usable by every test file of the package):
//
//	type myCase struct {
//		suiteField                     // "cipher_suite"
//		Out hexBytes `json:"out"`
//	}
//	runVectors(t, "crypto-basics.json", func(t *testing.T, s *suite, tc *myCase) { ... })
//
// runVectors decodes the file strictly (unknown JSON fields fail the test,
// so every expected output has to be declared and, by convention,
// checked), runs each case as a subtest for suites 1, 2, 3, 5, 7 and
// 0x004D, skips only suites 4 and 6 (X448/Ed448), fails on any other
// unsupported suite, logs how many ran and were skipped, and fails unless
// suites 1, 2, 3, 5 and 7 each ran at least once. loadVectors decodes a
// file without per-suite handling (messages.json, deserialization.json).

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// hexBytes is binary data hex-encoded in JSON; null decodes to nil.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = b
	return nil
}

// suiteField is embedded by per-suite vector cases.
type suiteField struct {
	CipherSuite uint16 `json:"cipher_suite"`
}

func (f suiteField) cipherSuite() CipherSuite { return CipherSuite(f.CipherSuite) }

type suiteCase interface{ cipherSuite() CipherSuite }

// loadVectors strictly decodes testdata/name into a []T.
func loadVectors[T any](t testing.TB, name string) []T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var out []T
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return out
}

// skippedSuite reports the suites whose cases may be skipped.
func skippedSuite(cs CipherSuite) bool {
	return cs == MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448 || cs == MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448
}

// runVectors runs fn for every case of testdata/name; see the file comment.
func runVectors[T any, PT interface {
	*T
	suiteCase
}](t *testing.T, name string, fn func(t *testing.T, s *suite, tc PT)) {
	t.Helper()
	cases := loadVectors[T](t, name)
	ran, skipped := 0, 0
	seen := map[CipherSuite]bool{}
	for i := range cases {
		tc := PT(&cases[i])
		cs := tc.cipherSuite()
		if skippedSuite(cs) {
			skipped++
			continue
		}
		s, err := cs.suite()
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		if t.Run(fmt.Sprintf("%d/suite%d", i, cs), func(t *testing.T) { fn(t, s, tc) }) {
			ran++
			seen[cs] = true
		}
	}
	t.Logf("%s: %d cases ran, %d skipped (suites 4 and 6, X448/Ed448)", name, ran, skipped)
	for _, cs := range []CipherSuite{1, 2, 3, 5, 7} {
		if !seen[cs] {
			t.Errorf("%s: no passing case for suite %d", name, cs)
		}
	}
}

// checkHex fails the test if got != want, naming what.
func checkHex(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}
