package attachment

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
)

// KeySize is the size of a file key.
const KeySize = 32

// Key is a file key. It is secret: fmt prints it redacted, and Equal
// compares in constant time.
type Key [KeySize]byte

// NewKey returns a fresh random key read from r (nil means crypto/rand).
func NewKey(r io.Reader) (Key, error) {
	if r == nil {
		r = rand.Reader
	}
	var k Key
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return Key{}, fmt.Errorf("attachment: new key: %w", err)
	}
	return k, nil
}

// Equal reports whether k and o are the same key, in constant time.
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// Format prints "attachment.Key(redacted)" for every verb, so a key never
// reaches a log line through fmt.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, "attachment.Key(redacted)") }
