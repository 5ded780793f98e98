package pii

import (
	"crypto/hmac"
	"crypto/sha256"
)

// labelContact prefixes the blind index of a contact attribute; the kind
// ("phone", "email") follows, so equal values of two kinds never collide
// and no contact index equals a username index.
const labelContact = "sealine/v1/contact/"

// ContactIndex returns the keyed blind index of a normalised contact value:
//
//	HMAC-SHA-256(indexKey, "sealine/v1/contact/" || kind || 0x00 || value)
//
// Its key version is IndexKeyID.
func (r *Keyring) ContactIndex(kind, normalised string) []byte {
	m := hmac.New(sha256.New, r.index[:])
	m.Write([]byte(labelContact + kind))
	m.Write([]byte{0})
	m.Write([]byte(normalised))
	return m.Sum(nil)
}

// IndexKeyID names the blind-index key version: the index key is derived
// from the KEK, so it is the KEK's id. A store records it beside each
// blind index so that a key rotation can find the indexes left to redo.
func (r *Keyring) IndexKeyID() string { return r.id }
