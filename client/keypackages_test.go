package client

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/sealine/sealine/mls"
)

func FuzzParseKeyPackagePrivate(f *testing.F) {
	sig, err := mls.DefaultCipherSuite.GenerateSignatureKey(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		f.Fatal(err)
	}
	kp, priv, err := mls.NewKeyPackage(mls.KeyPackageParams{
		CipherSuite: mls.DefaultCipherSuite, SignatureKey: sig,
		Credential: mls.Credential{Type: mls.CredentialBasic, Identity: []byte("u/d")},
		Rand:       rand.Reader,
	})
	if err != nil {
		f.Fatal(err)
	}
	raw, err := marshalKeyPackagePrivate(kp, priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte{0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		kp, priv, err := parseKeyPackagePrivate(raw)
		if err != nil {
			return
		}
		again, err := marshalKeyPackagePrivate(kp, priv)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		id   string
		ok   bool
		want Member
	}{
		{"u1/d1", true, Member{"u1", "d1"}},
		{"u1", false, Member{}},
		{"/d1", false, Member{}},
		{"u1/", false, Member{}},
		{"u1/d1/x", false, Member{}},
	} {
		got, ok := parseIdentity(credentialOf(tc.id))
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseIdentity(%q) = %v, %v", tc.id, got, ok)
		}
	}
	if _, ok := parseIdentity(mls.Credential{Type: mls.CredentialX509, Identity: []byte("u/d")}); ok {
		t.Error("an X.509 credential parsed as a basic identity")
	}
}
