package sframe

import (
	"bytes"
	"crypto/hkdf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"
)

// hexBytes is a byte string written in hex in the vector files.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type headerVector struct {
	KID     uint64   `json:"kid"`
	CTR     uint64   `json:"ctr"`
	Encoded hexBytes `json:"encoded"`
}

type aeadVector struct {
	Suite   Suite    `json:"cipher_suite"`
	Key     hexBytes `json:"key"`
	EncKey  hexBytes `json:"enc_key"`
	AuthKey hexBytes `json:"auth_key"`
	Nonce   hexBytes `json:"nonce"`
	AAD     hexBytes `json:"aad"`
	PT      hexBytes `json:"pt"`
	CT      hexBytes `json:"ct"`
}

type frameVector struct {
	Suite     Suite    `json:"cipher_suite"`
	KID       uint64   `json:"kid"`
	CTR       uint64   `json:"ctr"`
	BaseKey   hexBytes `json:"base_key"`
	KeyLabel  hexBytes `json:"sframe_key_label"`
	SaltLabel hexBytes `json:"sframe_salt_label"`
	Secret    hexBytes `json:"sframe_secret"`
	Key       hexBytes `json:"sframe_key"`
	Salt      hexBytes `json:"sframe_salt"`
	Metadata  hexBytes `json:"metadata"`
	Nonce     hexBytes `json:"nonce"`
	AAD       hexBytes `json:"aad"`
	PT        hexBytes `json:"pt"`
	CT        hexBytes `json:"ct"`
}

// vectorFiles is every section of both vector files. Loading fails if a
// file has a section not listed here, so no vector can go unchecked.
type vectorFiles struct {
	Header   []headerVector
	AEAD     []aeadVector  // aes_ctr_hmac and aes_256_ctr_hmac
	Frame    []frameVector // sframe and sframe_aes_256_ctr_hmac
	Sections map[string]int
}

func loadVectors(t testing.TB) vectorFiles {
	t.Helper()
	var v vectorFiles
	v.Sections = map[string]int{}
	for _, name := range []string{"testdata/test-vectors.json", "testdata/test-vectors-aes256.json"} {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var sections map[string]json.RawMessage
		if err := json.Unmarshal(raw, &sections); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for key, msg := range sections {
			n := v.addSection(t, key, msg)
			v.Sections[key] += n
		}
	}
	return v
}

func (v *vectorFiles) addSection(t testing.TB, key string, msg json.RawMessage) int {
	t.Helper()
	var dst any
	var n func() int
	var h []headerVector
	var a []aeadVector
	var f []frameVector
	switch key {
	case "header":
		dst, n = &h, func() int { v.Header = append(v.Header, h...); return len(h) }
	case "aes_ctr_hmac", "aes_256_ctr_hmac":
		dst, n = &a, func() int { v.AEAD = append(v.AEAD, a...); return len(a) }
	case "sframe", "sframe_aes_256_ctr_hmac":
		dst, n = &f, func() int { v.Frame = append(v.Frame, f...); return len(f) }
	default:
		t.Fatalf("vector section %q is not checked by any test", key)
	}
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("section %s: %v", key, err)
	}
	return n()
}

func TestVectorFilesComplete(t *testing.T) {
	v := loadVectors(t)
	want := map[string]int{"header": 289, "aes_ctr_hmac": 3, "aes_256_ctr_hmac": 3, "sframe": 5, "sframe_aes_256_ctr_hmac": 3}
	for k, n := range want {
		if v.Sections[k] != n {
			t.Errorf("section %s has %d vectors, want %d", k, v.Sections[k], n)
		}
	}
}

func TestHeaderVectors(t *testing.T) {
	ran := 0
	for _, tc := range loadVectors(t).Header {
		h := Header{KID: tc.KID, CTR: tc.CTR}
		if got := h.Append(nil); !bytes.Equal(got, tc.Encoded) {
			t.Errorf("encode %+v = %x, want %x", h, got, tc.Encoded)
		}
		if h.Len() != len(tc.Encoded) {
			t.Errorf("Len(%+v) = %d, want %d", h, h.Len(), len(tc.Encoded))
		}
		got, n, err := ParseHeader(tc.Encoded)
		if err != nil || got != h || n != len(tc.Encoded) {
			t.Errorf("ParseHeader(%x) = %+v, %d, %v; want %+v, %d", tc.Encoded, got, n, err, h, len(tc.Encoded))
		}
		ran++
	}
	requireRan(t, "header", ran, 289)
}

func TestAEADVectors(t *testing.T) {
	ran := 0
	for _, tc := range loadVectors(t).AEAD {
		p, ok := tc.Suite.params()
		if !ok || p.nka == 0 {
			t.Errorf("suite %v: no AES-CTR+HMAC parameters; vector NOT checked", tc.Suite)
			continue
		}
		if !bytes.Equal(tc.Key[:p.nka], tc.EncKey) || !bytes.Equal(tc.Key[p.nka:], tc.AuthKey) {
			t.Errorf("suite %v: subkey split does not match enc_key/auth_key", tc.Suite)
		}
		aead, err := p.newAEAD(tc.Key)
		if err != nil {
			t.Fatalf("suite %v: %v", tc.Suite, err)
		}
		if ct := aead.Seal(nil, tc.Nonce, tc.PT, tc.AAD); !bytes.Equal(ct, tc.CT) {
			t.Errorf("suite %v: Seal = %x, want %x", tc.Suite, ct, tc.CT)
		}
		if pt, err := aead.Open(nil, tc.Nonce, tc.CT, tc.AAD); err != nil || !bytes.Equal(pt, tc.PT) {
			t.Errorf("suite %v: Open = %x, %v; want %x", tc.Suite, pt, err, tc.PT)
		}
		ran++
	}
	requireRan(t, "AES-CTR+HMAC", ran, 6)
}

func TestFrameVectors(t *testing.T) {
	ran := 0
	for _, tc := range loadVectors(t).Frame {
		p, ok := tc.Suite.params()
		if !ok {
			t.Errorf("suite %v: unknown; vector NOT checked", tc.Suite)
			continue
		}
		checkDerivation(t, tc, p)
		checkFrame(t, tc, p)
		ran++
	}
	requireRan(t, "SFrame", ran, 8)
}

// checkDerivation checks every intermediate value of §4.4.2 and §4.4.3.
func checkDerivation(t *testing.T, tc frameVector, p suiteParams) {
	t.Helper()
	if got := kdfLabel("SFrame 1.0 Secret key ", tc.KID, tc.Suite); got != string(tc.KeyLabel) {
		t.Errorf("suite %v: key label %x, want %x", tc.Suite, got, tc.KeyLabel)
	}
	if got := kdfLabel("SFrame 1.0 Secret salt ", tc.KID, tc.Suite); got != string(tc.SaltLabel) {
		t.Errorf("suite %v: salt label %x, want %x", tc.Suite, got, tc.SaltLabel)
	}
	if secret, _ := hkdf.Extract(p.hash, tc.BaseKey, nil); !bytes.Equal(secret, tc.Secret) {
		t.Errorf("suite %v: sframe_secret %x, want %x", tc.Suite, secret, tc.Secret)
	}
	key, salt, err := deriveKeySalt(tc.Suite, p, tc.KID, tc.BaseKey)
	if err != nil || !bytes.Equal(key, tc.Key) || !bytes.Equal(salt, tc.Salt) {
		t.Errorf("suite %v: key, salt = %x, %x, %v; want %x, %x", tc.Suite, key, salt, err, tc.Key, tc.Salt)
	}
	fk, err := newFrameKey(tc.Suite, p, tc.KID, tc.BaseKey)
	if err != nil {
		t.Fatalf("suite %v: %v", tc.Suite, err)
	}
	var nonce [nonceSize]byte
	if fk.nonce(&nonce, tc.CTR); !bytes.Equal(nonce[:], tc.Nonce) {
		t.Errorf("suite %v: nonce %x, want %x", tc.Suite, nonce, tc.Nonce)
	}
	aad := append(Header{KID: tc.KID, CTR: tc.CTR}.Append(nil), tc.Metadata...)
	if !bytes.Equal(aad, tc.AAD) {
		t.Errorf("suite %v: aad %x, want %x", tc.Suite, aad, tc.AAD)
	}
}

// checkFrame encrypts with a Sender at the vector's counter and decrypts
// with a Receiver holding the vector's base key.
func checkFrame(t *testing.T, tc frameVector, p suiteParams) {
	t.Helper()
	s, err := newSender(tc.Suite, p, tc.KID, tc.BaseKey)
	if err != nil {
		t.Fatalf("suite %v: %v", tc.Suite, err)
	}
	s.ctr = tc.CTR
	ct, err := s.Encrypt(nil, tc.Metadata, tc.PT)
	if err != nil || !bytes.Equal(ct, tc.CT) {
		t.Errorf("suite %v: Encrypt = %x, %v; want %x", tc.Suite, ct, err, tc.CT)
	}
	r, err := newReceiver(tc.Suite, p, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddKey(tc.KID, tc.BaseKey); err != nil {
		t.Fatal(err)
	}
	pt, err := r.Decrypt(nil, tc.Metadata, tc.CT)
	if err != nil || !bytes.Equal(pt, tc.PT) {
		t.Errorf("suite %v: Decrypt = %x, %v; want %x", tc.Suite, pt, err, tc.PT)
	}
}

// requireRan fails loudly unless every vector of a kind was checked.
func requireRan(t *testing.T, kind string, ran, want int) {
	t.Helper()
	t.Logf("%s vectors checked: %d of %d", kind, ran, want)
	if ran != want {
		t.Fatalf("%s vectors: only %d of %d checked", kind, ran, want)
	}
}

func TestUnregisteredSuitesRefused(t *testing.T) {
	key := make([]byte, 16)
	for _, s := range []Suite{0, aes256CTRHMACSHA512_80, aes256CTRHMACSHA512_64, aes256CTRHMACSHA512_32, 9, 0xf000} {
		if _, err := NewSender(s, 1, key); !errors.Is(err, ErrUnsupportedSuite) {
			t.Errorf("NewSender(%v) err = %v, want ErrUnsupportedSuite", s, err)
		}
		if _, err := NewReceiver(s, Config{}); !errors.Is(err, ErrUnsupportedSuite) {
			t.Errorf("NewReceiver(%v) err = %v, want ErrUnsupportedSuite", s, err)
		}
		if s.Supported() || s.KeySize() != 0 {
			t.Errorf("%v reported as supported", s)
		}
	}
	if !slices.Equal(supportedSuites(), []Suite{1, 2, 3, 4, 5}) {
		t.Errorf("supported suites = %v", supportedSuites())
	}
}

// TestSuiteConstants checks the table of RFC 9605 §4.5 as coded.
func TestSuiteConstants(t *testing.T) {
	for s := Suite(1); s <= aes256CTRHMACSHA512_32; s++ {
		p, ok := s.params()
		if !ok {
			t.Fatalf("%v: no parameters", s)
		}
		if p.hash().Size() != p.nh {
			t.Errorf("%v: Nh %d, hash size %d", s, p.nh, p.hash().Size())
		}
		if p.nka != 0 && p.nk != p.nka+p.nh {
			t.Errorf("%v: Nk %d != Nka %d + Nh %d", s, p.nk, p.nka, p.nh)
		}
		if aead, err := p.newAEAD(make([]byte, p.nk)); err != nil || aead.Overhead() != p.nt || aead.NonceSize() != nonceSize {
			t.Errorf("%v: AEAD %v, %v", s, aead, err)
		}
	}
}
