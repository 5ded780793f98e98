package attachment

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Writer encrypts a file as it is written. Close must be called to seal
// the final chunk; the ciphertext is incomplete until then.
type Writer struct {
	dst   io.Writer
	aead  cipher.AEAD
	buf   []byte // plaintext of the current chunk, up to ChunkSize
	enc   []byte // ciphertext scratch, encChunkSize
	index uint64
	size  int64 // plaintext bytes accepted
	err   error // sticky: a write error or ErrClosed
}

// NewWriter writes the header to dst and returns a Writer encrypting under
// key. The per-file nonce is read from rand (nil means crypto/rand).
func NewWriter(dst io.Writer, key Key, rand io.Reader) (*Writer, error) {
	nonce, err := newNonce(rand)
	if err != nil {
		return nil, err
	}
	h, aead, err := header(key, nonce)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(h); err != nil {
		return nil, fmt.Errorf("attachment: write header: %w", err)
	}
	return &Writer{
		dst: dst, aead: aead,
		buf: make([]byte, 0, ChunkSize), enc: make([]byte, 0, encChunkSize),
	}, nil
}

func newNonce(r io.Reader) ([NonceSize]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	var n [NonceSize]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return n, fmt.Errorf("attachment: nonce: %w", err)
	}
	return n, nil
}

// Write encrypts p. A full chunk is sealed only once more data arrives,
// since the final chunk may be full too.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > MaxSize-w.size {
		return 0, fmt.Errorf("attachment: write: %w", ErrTooLarge)
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == ChunkSize {
			if err := w.seal(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):ChunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p, n, w.size = p[k:], n+k, w.size+int64(k)
	}
	return n, nil
}

// Close seals the final chunk. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.seal(true); err != nil {
		return err
	}
	w.err = ErrClosed
	return nil
}

// seal encrypts the buffered chunk and writes it.
func (w *Writer) seal(last bool) error {
	w.enc = w.aead.Seal(w.enc[:0], chunkNonce(w.index, last), w.buf, nil)
	if _, err := w.dst.Write(w.enc); err != nil {
		w.err = fmt.Errorf("attachment: write chunk %d: %w", w.index, err)
		return w.err
	}
	w.buf, w.index = w.buf[:0], w.index+1
	return nil
}

// Reader decrypts a ciphertext as it is read.
type Reader struct {
	src   io.Reader
	aead  cipher.AEAD
	enc   []byte // ciphertext of the next chunk plus one byte of look-ahead
	have  int    // bytes of enc already read (the look-ahead byte)
	plain []byte // authenticated plaintext not yet returned
	pbuf  []byte
	index uint64
	size  int64 // plaintext bytes authenticated
	done  bool  // the final chunk authenticated
	err   error // sticky
}

// NewReader reads the header from src and checks it against key. It fails
// with ErrHeader or ErrWrongKey before returning any plaintext.
func NewReader(src io.Reader, key Key) (*Reader, error) {
	h := make([]byte, HeaderSize)
	if _, err := io.ReadFull(src, h); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: short header", ErrHeader)
		}
		return nil, fmt.Errorf("attachment: read header: %w", err)
	}
	if string(h[:len(label)]) != label || binary.BigEndian.Uint32(h[len(label):prefixSize]) != ChunkSize {
		return nil, fmt.Errorf("%w: unknown label or chunk size", ErrHeader)
	}
	aead, commit, err := derive(key, h)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(commit, h[prefixSize+NonceSize:]) {
		return nil, ErrWrongKey
	}
	return &Reader{
		src: src, aead: aead,
		enc: make([]byte, encChunkSize+1), pbuf: make([]byte, 0, ChunkSize),
	}, nil
}

// Read returns authenticated plaintext. It returns io.EOF only after the
// final chunk authenticated and the source ended right after it.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next reads and opens one chunk. The chunk is final exactly when the
// source ends within encChunkSize bytes.
func (r *Reader) next() error {
	n, err := io.ReadFull(r.src, r.enc[r.have:])
	n += r.have
	last := false
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	case err != nil:
		return fmt.Errorf("attachment: read chunk %d: %w", r.index, err)
	default:
		n = encChunkSize
	}
	if err := r.open(r.enc[:n], last); err != nil {
		return err
	}
	if !last {
		r.enc[0], r.have = r.enc[encChunkSize], 1
	}
	return nil
}

// open authenticates one chunk into r.plain, or explains why it fails.
func (r *Reader) open(ct []byte, last bool) error {
	// Only chunk 0 may be final and empty (the empty file), so a shorter
	// final chunk means the stream was cut.
	if last && (len(ct) < TagSize || len(ct) == TagSize && r.index > 0) {
		return fmt.Errorf("chunk %d: %w", r.index, ErrTruncated)
	}
	p, err := r.aead.Open(r.pbuf[:0], chunkNonce(r.index, last), ct, nil)
	if err != nil {
		return r.diagnose(ct, last)
	}
	if int64(len(p)) > MaxSize-r.size {
		return fmt.Errorf("chunk %d: %w", r.index, ErrTooLarge)
	}
	r.plain, r.size, r.done = p, r.size+int64(len(p)), last
	r.index++
	return nil
}

// diagnose names the failure of a chunk that did not open with the
// expected last flag: if it opens with the other flag, the stream was cut
// (ErrTruncated) or extended (ErrTrailingData); otherwise it is corrupt.
func (r *Reader) diagnose(ct []byte, last bool) error {
	if _, err := r.aead.Open(r.pbuf[:0], chunkNonce(r.index, !last), ct, nil); err == nil {
		if last {
			return fmt.Errorf("chunk %d: %w", r.index, ErrTruncated)
		}
		return fmt.Errorf("chunk %d: %w", r.index, ErrTrailingData)
	}
	return fmt.Errorf("chunk %d: %w", r.index, ErrCorrupt)
}
