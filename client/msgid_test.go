package client

import (
	"bytes"
	"testing"
	"time"
)

// TestNewMessageID: an id is the time in milliseconds (6 bytes,
// big-endian) then 10 random bytes, so later ids sort after earlier ones.
func TestNewMessageID(t *testing.T) {
	random := bytes.Repeat([]byte{0xAB}, 10)
	m := &Messenger{c: &Client{rand: bytes.NewReader(append(bytes.Clone(random), random...))}}
	at := time.UnixMilli(0x0123456789AB)
	id, err := m.newMessageID(at)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB}, random...)
	if !bytes.Equal(id[:], want) {
		t.Fatalf("id %x, want %x", id, want)
	}
	later, err := m.newMessageID(at.Add(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Compare(later[:], id[:]) <= 0 {
		t.Fatalf("id a millisecond later %x does not sort after %x", later, id)
	}
	if _, err := m.newMessageID(at); err == nil {
		t.Fatal("no error when the random source is exhausted")
	}
}
