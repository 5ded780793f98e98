package attachment

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpus")

// FuzzParseMetadata: any input either fails with ErrMetadata or parses to
// a Metadata that encodes back to exactly the same bytes.
func FuzzParseMetadata(f *testing.F) {
	good, _ := testMetadata().MarshalBinary()
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data)
		if err != nil {
			if !errors.Is(err, ErrMetadata) {
				t.Fatalf("error %v does not wrap ErrMetadata", err)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("round trip: %x, %v; want %x", out, err, data)
		}
	})
}

// FuzzDecrypt: any ciphertext either fails with one of the package's
// sentinels or decrypts to a plaintext whose encryption (same key, same
// header nonce) is exactly that ciphertext, so no two ciphertexts open to
// the same file.
func FuzzDecrypt(f *testing.F) {
	f.Add(encrypt(f, testKey(1), pattern(ChunkSize+10), ChunkSize))
	f.Fuzz(func(t *testing.T, ct []byte) {
		plain, err := decrypt(ct, testKey(1))
		if err != nil {
			for _, s := range []error{ErrHeader, ErrWrongKey, ErrCorrupt, ErrTruncated, ErrTrailingData} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error %v wraps no sentinel", err)
		}
		var again bytes.Buffer
		w, _ := NewWriter(&again, testKey(1), bytes.NewReader(ct[prefixSize:prefixSize+NonceSize]))
		w.Write(plain)
		w.Close()
		if !bytes.Equal(again.Bytes(), ct) {
			t.Fatal("accepted a ciphertext that is not the canonical encryption of its plaintext")
		}
	})
}

// FuzzRoundTrip: whatever the plaintext and write sizes, it decrypts back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint16(1))
	f.Add([]byte("hello"), uint16(2))
	f.Fuzz(func(t *testing.T, plain []byte, step uint16) {
		ct := encrypt(t, testKey(3), plain, int(step)+1)
		if want, _ := CiphertextSize(int64(len(plain))); int64(len(ct)) != want {
			t.Fatalf("len = %d, want %d", len(ct), want)
		}
		got, err := decrypt(ct, testKey(3))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("decrypt: %v", err)
		}
	})
}

// TestSeedCorpus writes testdata/fuzz/ with -update; otherwise it checks
// the committed seeds are still what the code produces.
func TestSeedCorpus(t *testing.T) {
	md, _ := testMetadata().MarshalBinary()
	seeds := map[string][]any{
		"FuzzParseMetadata/valid":     {md},
		"FuzzParseMetadata/truncated": {md[:40]},
		"FuzzDecrypt/empty_file":      {encrypt(t, testKey(1), nil, 1)},
		"FuzzDecrypt/short_file":      {encrypt(t, testKey(1), []byte("hello, sealine"), 1)},
		"FuzzDecrypt/header_only":     {encrypt(t, testKey(1), nil, 1)[:HeaderSize]},
		"FuzzDecrypt/wrong_key":       {encrypt(t, testKey(2), []byte("hello"), 1)},
		"FuzzRoundTrip/odd_steps":     {[]byte("0123456789abcdef"), uint16(2)},
	}
	for name, values := range seeds {
		path := filepath.Join("testdata", "fuzz", filepath.FromSlash(name))
		content := corpusFile(values...)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
			t.Errorf("seed %s is stale or missing (go test -run TestSeedCorpus -update): %v", name, err)
		}
	}
}

// corpusFile formats values in the "go test fuzz v1" corpus format.
func corpusFile(values ...any) []byte {
	b := []byte("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		case uint16:
			b = fmt.Appendf(b, "uint16(%d)\n", v)
		}
	}
	return b
}
