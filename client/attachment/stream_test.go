package attachment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func testKey(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// testNonce returns a rand source yielding a fixed per-file nonce.
func testNonce() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{7}, NonceSize)) }

// pattern returns n bytes that differ from chunk to chunk.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/ChunkSize)
	}
	return p
}

// encrypt seals plain under key, writing it in pieces of step bytes.
func encrypt(t testing.TB, key Key, plain []byte, step int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, key, testNonce())
	if err != nil {
		t.Fatal(err)
	}
	for p := plain; len(p) > 0; {
		k := min(step, len(p))
		if n, err := w.Write(p[:k]); n != k || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// decrypt opens ct under key and returns what it read before any error.
func decrypt(ct []byte, key Key) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 100, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3*ChunkSize + 17}
	steps := []int{1 << 20, 1000, ChunkSize}
	for _, n := range sizes {
		for _, step := range steps {
			t.Run(fmt.Sprintf("size=%d/step=%d", n, step), func(t *testing.T) {
				plain := pattern(n)
				ct := encrypt(t, testKey(1), plain, step)
				if want, _ := CiphertextSize(int64(n)); int64(len(ct)) != want {
					t.Fatalf("len(ciphertext) = %d, CiphertextSize = %d", len(ct), want)
				}
				r, err := NewReader(iotest.HalfReader(bytes.NewReader(ct)), testKey(1))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(iotest.OneByteReader(r))
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("decrypt: %d bytes, %v; want %d bytes", len(got), err, n)
				}
			})
		}
	}
}

func TestDeterministicAndNonced(t *testing.T) {
	plain := pattern(ChunkSize + 5)
	a, b := encrypt(t, testKey(1), plain, 999), encrypt(t, testKey(1), plain, ChunkSize)
	if !bytes.Equal(a, b) {
		t.Fatal("same key, nonce and plaintext gave different ciphertexts")
	}
	var c bytes.Buffer
	w, err := NewWriter(&c, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	if bytes.Equal(a[HeaderSize:], c.Bytes()[HeaderSize:]) {
		t.Fatal("a fresh random nonce gave the same payload")
	}
}

// sealChunk seals one chunk with the payload key of ct's header, to craft
// ciphertexts a keyholder could make but a Writer never does.
func sealChunk(t *testing.T, ct []byte, key Key, i uint64, last bool, plain []byte) []byte {
	t.Helper()
	aead, _, err := derive(key, ct[:HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	return aead.Seal(nil, chunkNonce(i, last), plain, nil)
}

func TestTamper(t *testing.T) {
	key := testKey(1)
	short := encrypt(t, key, pattern(3*ChunkSize+100), ChunkSize) // chunks 0..2 full, 3 short
	full := encrypt(t, key, pattern(3*ChunkSize), ChunkSize)      // chunks 0..2 full, 2 final
	chunk := func(ct []byte, i int) []byte {
		return ct[HeaderSize+i*encChunkSize : min(len(ct), HeaderSize+(i+1)*encChunkSize)]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	flip := func(ct []byte, off int) []byte {
		c := bytes.Clone(ct)
		c[off] ^= 0x10
		return c
	}
	hdr := short[:HeaderSize]
	tests := []struct {
		name string
		ct   []byte
		key  Key
		want error
		good int // plaintext bytes a Reader may return before failing
	}{
		{"empty input", nil, key, ErrHeader, 0},
		{"short header", hdr[:HeaderSize-1], key, ErrHeader, 0},
		{"header only", hdr, key, ErrTruncated, 0},
		{"flipped label", flip(short, 3), key, ErrHeader, 0},
		{"other chunk size", flip(short, len(label)+1), key, ErrHeader, 0},
		{"flipped nonce", flip(short, prefixSize), key, ErrWrongKey, 0},
		{"flipped commitment", flip(short, HeaderSize-1), key, ErrWrongKey, 0},
		{"wrong key", short, testKey(2), ErrWrongKey, 0},
		{"drop final chunk", short[:HeaderSize+3*encChunkSize], key, ErrTruncated, 2 * ChunkSize},
		{"drop final two chunks", short[:HeaderSize+2*encChunkSize], key, ErrTruncated, ChunkSize},
		{"drop final chunk of full file", full[:HeaderSize+2*encChunkSize], key, ErrTruncated, ChunkSize},
		{"cut inside a tag", short[:len(short)-105], key, ErrTruncated, 3 * ChunkSize},
		{"cut after a tag's worth", short[:len(short)-100], key, ErrTruncated, 3 * ChunkSize},
		{"cut inside a chunk", short[:len(short)-20], key, ErrCorrupt, 3 * ChunkSize},
		{"swap chunks 0 and 1", cat(hdr, chunk(short, 1), chunk(short, 0), chunk(short, 2), chunk(short, 3)), key, ErrCorrupt, 0},
		{"swap chunks 1 and 2", cat(hdr, chunk(short, 0), chunk(short, 2), chunk(short, 1), chunk(short, 3)), key, ErrCorrupt, ChunkSize},
		{"duplicate chunk 1", cat(hdr, chunk(short, 0), chunk(short, 1), chunk(short, 1), chunk(short, 2), chunk(short, 3)), key, ErrCorrupt, 2 * ChunkSize},
		{"duplicate final chunk", cat(full, chunk(full, 2)), key, ErrTrailingData, 2 * ChunkSize},
		{"flipped bit in chunk 2", flip(short, HeaderSize+2*encChunkSize+5), key, ErrCorrupt, 2 * ChunkSize},
		{"flipped bit in final tag", flip(short, len(short)-1), key, ErrCorrupt, 3 * ChunkSize},
		{"appended chunk", cat(full, sealChunk(t, full, key, 3, true, []byte("more"))), key, ErrTrailingData, 2 * ChunkSize},
		{"appended byte", cat(full, []byte{0}), key, ErrTrailingData, 2 * ChunkSize},
		{"appended byte after short chunk", cat(short, []byte{0}), key, ErrCorrupt, 3 * ChunkSize},
		{"empty final chunk after a full one", cat(full[:HeaderSize], sealChunk(t, full, key, 0, false, pattern(ChunkSize)), sealChunk(t, full, key, 1, true, nil)), key, ErrTruncated, ChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decrypt(tt.ct, tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if len(got) != tt.good || !bytes.Equal(got, pattern(tt.good)) {
				t.Fatalf("returned %d plaintext bytes before failing, want the %d authenticated ones", len(got), tt.good)
			}
		})
	}
}

func TestReaderErrorsAreSticky(t *testing.T) {
	ct := encrypt(t, testKey(1), pattern(2*ChunkSize), ChunkSize)
	ct[len(ct)-1] ^= 1
	r, err := NewReader(bytes.NewReader(ct), testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(r)
	for range 2 {
		if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Read after failure = %d, %v", n, err)
		}
	}
}

func TestReaderSourceError(t *testing.T) {
	boom := errors.New("boom")
	ct := encrypt(t, testKey(1), pattern(2*ChunkSize), ChunkSize)
	src := io.MultiReader(bytes.NewReader(ct[:HeaderSize+100]), iotest.ErrReader(boom))
	r, err := NewReader(src, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); len(got) != 0 || !errors.Is(err, boom) {
		t.Fatalf("ReadAll = %d bytes, %v; want 0, boom", len(got), err)
	}
	if _, err := NewReader(iotest.ErrReader(boom), testKey(1)); !errors.Is(err, boom) {
		t.Fatalf("NewReader = %v, want boom", err)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	if _, err := NewWriter(&failWriter{}, testKey(1), nil); err == nil {
		t.Fatal("NewWriter on a failing writer succeeded")
	}
	if _, err := NewWriter(io.Discard, testKey(1), iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Fatal("NewWriter without randomness succeeded")
	}
	w, err := NewWriter(&failWriter{after: 1}, testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(2*ChunkSize + 1)); err == nil {
		t.Fatal("Write through a failing writer succeeded")
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close after a failed write = %v, want the write error", err)
	}
	w, _ = NewWriter(io.Discard, testKey(1), nil)
	w.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

func TestCiphertextSize(t *testing.T) {
	tests := []struct {
		n, want int64
		err     error
	}{
		{0, 73 + 16, nil},
		{1, 73 + 1 + 16, nil},
		{ChunkSize, 73 + ChunkSize + 16, nil},
		{ChunkSize + 1, 73 + ChunkSize + 1 + 32, nil},
		{50 << 20, 73 + 50<<20 + 800*16, nil},
		{MaxSize, int64(HeaderSize) + MaxSize + MaxSize/ChunkSize*TagSize, nil},
		{MaxSize + 1, 0, ErrTooLarge},
		{-1, 0, ErrTooLarge},
	}
	for _, tt := range tests {
		got, err := CiphertextSize(tt.n)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("CiphertextSize(%d) = %d, %v; want %d, %v", tt.n, got, err, tt.want, tt.err)
		}
	}
}

func TestKey(t *testing.T) {
	a, err := NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKey(nil)
	if a.Equal(b) || !a.Equal(a) {
		t.Fatal("Equal is wrong, or two fresh keys are equal")
	}
	if _, err := NewKey(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Fatal("NewKey without randomness succeeded")
	}
	k := testKey(0xa0)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out := fmt.Sprintf(verb, k) + fmt.Sprintf(verb, Metadata{Key: k})
		if strings.Contains(strings.ToLower(out), "a0a1a2") || strings.Contains(out, "160") {
			t.Errorf("%s printed key material: %s", verb, out)
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	plain := pattern(16 << 20)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		w, err := NewWriter(io.Discard, testKey(1), nil)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(plain)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	ct := encrypt(b, testKey(1), pattern(16<<20), 1<<20)
	b.SetBytes(16 << 20)
	buf := make([]byte, 32<<10)
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), testKey(1))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConstantMemory: encrypting and decrypting 32 MiB allocates about
// two chunks' worth, not the file.
func TestConstantMemory(t *testing.T) {
	const size = 32 << 20
	pr, pw := io.Pipe()
	go func() {
		w, err := NewWriter(pw, testKey(1), testNonce())
		if err == nil {
			_, err = io.Copy(w, io.LimitReader(zeros{}, size))
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := NewReader(pr, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	runtime.ReadMemStats(&after)
	if n != size || err != nil {
		t.Fatalf("copied %d bytes, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("a %d-byte round trip allocated %d bytes", size, alloc)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
