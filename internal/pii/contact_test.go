package pii

import (
	"crypto/hmac"
	"testing"
)

func TestContactIndex(t *testing.T) {
	r, err := NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	phone := r.ContactIndex("phone", "+819012345678")
	for _, other := range [][]byte{
		r.ContactIndex("email", "+819012345678"),
		r.ContactIndex("phone", "+819012345679"),
		r.BlindIndex("+819012345678"),
	} {
		if hmac.Equal(phone, other) {
			t.Fatal("contact index collides across kinds, values or with the username index")
		}
	}
	if !hmac.Equal(phone, r.ContactIndex("phone", "+819012345678")) || r.IndexKeyID() != r.KEKID() {
		t.Fatal("contact index not deterministic or index key id not the KEK id")
	}
}
