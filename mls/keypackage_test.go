package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// testSuites are the suites every tree and key package test runs for.
var testSuites = []CipherSuite{1, 2, 3, 5, 7, 0x004D}

// testRand returns deterministic randomness for tests.
func testRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

var kpNow = time.Unix(1_800_000_000, 0)

func newTestKeyPackage(t testing.TB, cs CipherSuite, seed byte) (*KeyPackage, *KeyPackagePrivate, *SignaturePrivateKey) {
	t.Helper()
	rnd := testRand(seed)
	sk, err := cs.GenerateSignatureKey(rnd)
	if err != nil {
		t.Fatal(err)
	}
	kp, priv, err := NewKeyPackage(KeyPackageParams{
		CipherSuite:  cs,
		Credential:   Credential{Type: CredentialBasic, Identity: []byte{'m', seed}},
		SignatureKey: sk,
		Lifetime:     LifetimeFrom(kpNow, time.Hour, 90*24*time.Hour),
		Rand:         rnd,
	})
	if err != nil {
		t.Fatal(err)
	}
	return kp, priv, sk
}

func TestKeyPackageRoundTrip(t *testing.T) {
	for _, cs := range testSuites {
		t.Run(cs.String(), func(t *testing.T) {
			kp, priv, _ := newTestKeyPackage(t, cs, 1)
			b, err := kp.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseKeyPackage(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := got.Marshal()
			if !bytes.Equal(b, b2) {
				t.Fatal("round trip changed bytes")
			}
			if err := got.Validate(cs, kpNow, nil); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !bytes.Equal(priv.InitKey.PublicKey(), got.InitKey) {
				t.Fatal("init key mismatch")
			}
			r1, _ := kp.Ref()
			r2, _ := got.Ref()
			if !r1.Equal(r2) || len(r1) == 0 {
				t.Fatal("ref mismatch")
			}
		})
	}
}

func TestKeyPackageBadInput(t *testing.T) {
	const cs = CipherSuite(1)
	tests := []struct {
		name   string
		mutate func(kp *KeyPackage, sk *SignaturePrivateKey)
		suite  CipherSuite
		now    time.Time
		want   error
	}{
		{"wrong suite", nil, 3, kpNow, ErrInvalidKeyPackage},
		{"expired", nil, cs, kpNow.Add(91 * 24 * time.Hour), ErrExpired},
		{"not yet valid", nil, cs, kpNow.Add(-2 * time.Hour), ErrExpired},
		{"bad signature", func(kp *KeyPackage, _ *SignaturePrivateKey) { kp.Signature[3] ^= 1 }, cs, kpNow, ErrBadSignature},
		{"bad leaf signature", func(kp *KeyPackage, sk *SignaturePrivateKey) {
			kp.LeafNode.Signature[0] ^= 1
			mustSign(t, kp, sk)
		}, cs, kpNow, ErrBadSignature},
		{"wrong version", func(kp *KeyPackage, sk *SignaturePrivateKey) {
			kp.Version = 2
			mustSign(t, kp, sk)
		}, cs, kpNow, ErrInvalidKeyPackage},
		{"init key reused as leaf key", func(kp *KeyPackage, sk *SignaturePrivateKey) {
			kp.InitKey = kp.LeafNode.EncryptionKey
			mustSign(t, kp, sk)
		}, cs, kpNow, ErrInvalidKeyPackage},
		{"wrong leaf source", func(kp *KeyPackage, sk *SignaturePrivateKey) {
			kp.LeafNode.Source = LeafNodeSourceUpdate
			mustSignLeaf(t, kp, sk)
		}, cs, kpNow, ErrInvalidLeafNode},
		{"extension not in capabilities", func(kp *KeyPackage, sk *SignaturePrivateKey) {
			kp.Extensions = []Extension{{Type: 0x0a0a, Data: []byte{1}}}
			mustSign(t, kp, sk)
		}, cs, kpNow, ErrInvalidKeyPackage},
		{"leaf extension not in capabilities", func(kp *KeyPackage, sk *SignaturePrivateKey) {
			kp.LeafNode.Extensions = []Extension{{Type: 0x0a0a}}
			mustSignLeaf(t, kp, sk)
		}, cs, kpNow, ErrInvalidLeafNode},
		{"credential not in capabilities", func(kp *KeyPackage, sk *SignaturePrivateKey) {
			kp.LeafNode.Capabilities.Credentials = []CredentialType{CredentialX509}
			mustSignLeaf(t, kp, sk)
		}, cs, kpNow, ErrInvalidLeafNode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kp, _, sk := newTestKeyPackage(t, cs, 2)
			if tc.mutate != nil {
				tc.mutate(kp, sk)
			}
			err := kp.Validate(tc.suite, tc.now, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

func mustSign(t *testing.T, kp *KeyPackage, sk *SignaturePrivateKey) {
	t.Helper()
	if err := kp.sign(sk); err != nil {
		t.Fatal(err)
	}
}

func mustSignLeaf(t *testing.T, kp *KeyPackage, sk *SignaturePrivateKey) {
	t.Helper()
	if err := kp.LeafNode.Sign(kp.CipherSuite, sk, nil, 0); err != nil {
		t.Fatal(err)
	}
	mustSign(t, kp, sk)
}

func TestLeafNodeMaxLifetime(t *testing.T) {
	kp, _, _ := newTestKeyPackage(t, 1, 5)
	c := LeafNodeCheck{Source: LeafNodeSourceKeyPackage, Now: kpNow, MaxLifetime: 30 * 24 * time.Hour}
	if err := kp.LeafNode.Validate(1, c); !errors.Is(err, ErrInvalidLeafNode) {
		t.Fatalf("90-day lifetime under a 30-day bound: %v", err)
	}
	c.MaxLifetime = 100 * 24 * time.Hour
	if err := kp.LeafNode.Validate(1, c); err != nil {
		t.Fatalf("90-day lifetime under a 100-day bound: %v", err)
	}
}

func TestKeyPackageRequiredCapabilities(t *testing.T) {
	kp, _, _ := newTestKeyPackage(t, 1, 3)
	var w writer
	writeUint16s(&w, []ExtensionType{0x0a0a})
	writeUint16s(&w, []ProposalType{})
	writeUint16s(&w, []CredentialType{CredentialBasic})
	rc := []Extension{{Type: ExtensionRequiredCapabilities, Data: w.b}}
	if err := kp.Validate(1, kpNow, rc); !errors.Is(err, ErrInvalidLeafNode) {
		t.Fatalf("Validate = %v, want ErrInvalidLeafNode", err)
	}
}

func TestParseKeyPackageMalformed(t *testing.T) {
	kp, _, _ := newTestKeyPackage(t, 1, 4)
	b, _ := kp.Marshal()
	for n := range len(b) {
		if _, err := ParseKeyPackage(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := ParseKeyPackage(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: err = %v", err)
	}
	dup := *kp
	dup.Extensions = []Extension{{Type: 9}, {Type: 9}}
	db, err := dup.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeyPackage(db); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate extension: err = %v", err)
	}
}

// TestKeyPackageMessagesVectors validates every KeyPackage in
// messages.json (independently generated by other implementations):
// strict parse, byte-exact re-encoding, leaf and package signatures and
// capabilities. Their lifetimes ended in 2023, so the clock is not
// checked here.
func TestKeyPackageMessagesVectors(t *testing.T) {
	var cases []struct {
		MLSKeyPackage hexBytes `json:"mls_key_package"`
	}
	loadTreeVector(t, "messages.json", &cases)
	ran := 0
	for i, tc := range cases {
		b := []byte(tc.MLSKeyPackage)
		if len(b) < 4 || b[0] != 0 || b[1] != 1 || b[2] != 0 || b[3] != 5 {
			t.Fatalf("case %d: not an mls10 key package message", i)
		}
		kp, err := ParseKeyPackage(b[4:])
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if out, _ := kp.Marshal(); !bytes.Equal(out, b[4:]) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
		if err := kp.Validate(kp.CipherSuite, time.Time{}, nil); err != nil {
			t.Fatalf("case %d (suite %v): %v", i, kp.CipherSuite, err)
		}
		ran++
	}
	t.Logf("messages.json: %d key package cases ran, 0 skipped", ran)
	if ran == 0 {
		t.Fatal("messages.json: no key package case ran")
	}
}
