package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
)

type cryptoBasicsCase struct {
	suiteField
	RefHash struct {
		Label string   `json:"label"`
		Value hexBytes `json:"value"`
		Out   hexBytes `json:"out"`
	} `json:"ref_hash"`
	ExpandWithLabel struct {
		Secret  hexBytes `json:"secret"`
		Label   string   `json:"label"`
		Context hexBytes `json:"context"`
		Length  uint16   `json:"length"`
		Out     hexBytes `json:"out"`
	} `json:"expand_with_label"`
	DeriveSecret struct {
		Secret hexBytes `json:"secret"`
		Label  string   `json:"label"`
		Out    hexBytes `json:"out"`
	} `json:"derive_secret"`
	DeriveTreeSecret struct {
		Secret     hexBytes `json:"secret"`
		Label      string   `json:"label"`
		Generation uint32   `json:"generation"`
		Length     uint16   `json:"length"`
		Out        hexBytes `json:"out"`
	} `json:"derive_tree_secret"`
	SignWithLabel struct {
		Priv      hexBytes `json:"priv"`
		Pub       hexBytes `json:"pub"`
		Content   hexBytes `json:"content"`
		Label     string   `json:"label"`
		Signature hexBytes `json:"signature"`
	} `json:"sign_with_label"`
	EncryptWithLabel struct {
		Priv       hexBytes `json:"priv"`
		Pub        hexBytes `json:"pub"`
		Label      string   `json:"label"`
		Context    hexBytes `json:"context"`
		Plaintext  hexBytes `json:"plaintext"`
		KEMOutput  hexBytes `json:"kem_output"`
		Ciphertext hexBytes `json:"ciphertext"`
	} `json:"encrypt_with_label"`
}

func TestCryptoBasicsVectors(t *testing.T) {
	runVectors(t, "crypto-basics.json", func(t *testing.T, s *suite, tc *cryptoBasicsCase) {
		checkHex(t, "ref_hash", s.refHash(tc.RefHash.Label, tc.RefHash.Value), tc.RefHash.Out)

		e := tc.ExpandWithLabel
		out, err := s.expandWithLabel(e.Secret, e.Label, e.Context, e.Length)
		must(t, err)
		checkHex(t, "expand_with_label", out, e.Out)

		out, err = s.deriveSecret(tc.DeriveSecret.Secret, tc.DeriveSecret.Label)
		must(t, err)
		checkHex(t, "derive_secret", out, tc.DeriveSecret.Out)

		d := tc.DeriveTreeSecret
		out, err = s.deriveTreeSecret(d.Secret, d.Label, d.Generation, int(d.Length))
		must(t, err)
		checkHex(t, "derive_tree_secret", out, d.Out)

		testSignWithLabel(t, s, tc)
		testEncryptWithLabel(t, s, tc)
	})
}

func testSignWithLabel(t *testing.T, s *suite, tc *cryptoBasicsCase) {
	v := tc.SignWithLabel
	if err := s.verifyWithLabel(v.Pub, v.Label, v.Content, v.Signature); err != nil {
		t.Errorf("verify vector signature: %v", err)
	}
	priv, err := s.id.NewSignaturePrivateKey(v.Priv)
	must(t, err)
	checkHex(t, "signature public key", priv.PublicKey(), v.Pub)
	checkHex(t, "signature private key round trip", priv.Bytes(), v.Priv)
	sig, err := s.signWithLabel(priv, v.Label, v.Content)
	must(t, err)
	if err := s.verifyWithLabel(v.Pub, v.Label, v.Content, sig); err != nil {
		t.Errorf("verify own signature: %v", err)
	}
	if err := s.verifyWithLabel(v.Pub, v.Label+"x", v.Content, sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("verify under other label: got %v, want ErrBadSignature", err)
	}
}

func testEncryptWithLabel(t *testing.T, s *suite, tc *cryptoBasicsCase) {
	v := tc.EncryptWithLabel
	priv, err := s.hpkePrivateKey(v.Priv)
	must(t, err)
	checkHex(t, "hpke public key", priv.PublicKey(), v.Pub)
	pt, err := s.decryptWithLabel(priv, v.Label, v.Context, v.KEMOutput, v.Ciphertext)
	must(t, err)
	checkHex(t, "decrypt vector", pt, v.Plaintext)
	kem, ct, err := s.encryptWithLabel(v.Pub, v.Label, v.Context, v.Plaintext)
	must(t, err)
	pt, err = s.decryptWithLabel(priv, v.Label, v.Context, kem, ct)
	must(t, err)
	checkHex(t, "decrypt own", pt, v.Plaintext)
	if _, err := s.decryptWithLabel(priv, v.Label, []byte("other"), kem, ct); !errors.Is(err, ErrDecrypt) {
		t.Errorf("decrypt with other context: got %v, want ErrDecrypt", err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSuites(t *testing.T) {
	tests := []struct {
		cs        CipherSuite
		supported bool
	}{
		{1, true}, {2, true}, {3, true}, {4, false}, {5, true}, {6, false}, {7, true},
		{0x004D, true}, {0, false}, {8, false}, {0x0A0A, false},
	}
	for _, tt := range tests {
		if got := tt.cs.Supported(); got != tt.supported {
			t.Errorf("suite %v: Supported() = %v, want %v", tt.cs, got, tt.supported)
		}
		if _, err := tt.cs.suite(); !tt.supported && !errors.Is(err, ErrUnsupportedSuite) {
			t.Errorf("suite %v: err = %v, want ErrUnsupportedSuite", tt.cs, err)
		}
	}
}

// TestSuiteRoundTrips exercises every supported suite, including 0x004D
// which has no official vectors: sign/verify, HPKE, AEAD and key
// derivation.
func TestSuiteRoundTrips(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 3, 5, 7, 0x004D} {
		t.Run(cs.String(), func(t *testing.T) {
			s, err := cs.suite()
			must(t, err)
			sk, err := cs.GenerateSignatureKey(rand.Reader)
			must(t, err)
			sig, err := s.signWithLabel(sk, "L", []byte("c"))
			must(t, err)
			must(t, s.verifyWithLabel(sk.PublicKey(), "L", []byte("c"), sig))
			hk, err := s.deriveKeyPair(bytes.Repeat([]byte{7}, s.hashLen()))
			must(t, err)
			kem, ct, err := s.encryptWithLabel(hk.PublicKey(), "L", []byte("ctx"), []byte("pt"))
			must(t, err)
			pt, err := s.decryptWithLabel(hk, "L", []byte("ctx"), kem, ct)
			must(t, err)
			checkHex(t, "hpke round trip", pt, []byte("pt"))
			a, err := s.aead(make([]byte, s.keyLen))
			must(t, err)
			if a.NonceSize() != s.nonceLen() {
				t.Errorf("nonce size %d, want %d", a.NonceSize(), s.nonceLen())
			}
		})
	}
}

func TestSecretKeysRedacted(t *testing.T) {
	sk, err := DefaultCipherSuite.GenerateSignatureKey(rand.Reader)
	must(t, err)
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		if got := sprintf(f, sk); got != "mls.SignaturePrivateKey(redacted)" {
			t.Errorf("Sprintf(%q) = %q", f, got)
		}
		if got := sprintf(f, *sk); got != "mls.SignaturePrivateKey(redacted)" {
			t.Errorf("Sprintf(%q) of value = %q", f, got)
		}
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
