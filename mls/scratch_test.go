package mls

import (
	"bytes"
	"errors"
	"testing"
)

// The framer reuses scratch buffers across messages. These tests catch
// a result that aliases one of them, or the caller's input: each keeps
// what one message returned, sends or receives more messages, and
// checks it did not change.

func TestEncryptResultsDoNotAlias(t *testing.T) {
	for _, cfg := range []Config{{}, {PaddingBlock: 32}} {
		a, b := twoMembers(t, DefaultCipherSuite, cfg)
		p1, ad1 := []byte("first message, longer than the second"), []byte("ad one")
		p2, ad2 := []byte("second"), []byte("ad two, longer")
		w1, err := a.Encrypt(p1, ad1)
		must(t, err)
		keep := bytes.Clone(w1)
		prop, err := a.Propose(&Proposal{Type: ProposalRemove, Removed: 1}) // a handshake message between
		must(t, err)
		w2, err := a.Encrypt(p2, ad2)
		must(t, err)
		if !bytes.Equal(w1, keep) {
			t.Fatal("a later Encrypt changed an earlier message")
		}
		if string(p1) != "first message, longer than the second" || string(ad1) != "ad one" {
			t.Fatal("Encrypt changed its input")
		}
		for i, w := range [][]byte{w1, w2} {
			m, err := ParseMLSMessage(w)
			must(t, err)
			again, err := m.Marshal()
			must(t, err)
			if !bytes.Equal(again, w) {
				t.Fatalf("message %d does not round-trip", i)
			}
		}
		if _, err := b.Process(prop); err != nil {
			t.Fatal(err)
		}
		got1, err := b.Decrypt(w1)
		must(t, err)
		got2, err := b.Decrypt(w2)
		must(t, err)
		if string(got1.Data) != string(p1) || string(got1.AuthenticatedData) != string(ad1) ||
			string(got2.Data) != string(p2) || string(got2.AuthenticatedData) != string(ad2) {
			t.Fatalf("got %q/%q and %q/%q", got1.Data, got1.AuthenticatedData, got2.Data, got2.AuthenticatedData)
		}
	}
}

func TestDecryptResultsDoNotAlias(t *testing.T) {
	a, b := twoMembers(t, DefaultCipherSuite, Config{})
	w1, err := a.Encrypt([]byte("one"), []byte("ad one"))
	must(t, err)
	w2, err := a.Encrypt([]byte("two"), []byte("ad two"))
	must(t, err)
	got1, err := b.Decrypt(w1)
	must(t, err)
	// The caller may reuse its receive buffer: overwrite the wire.
	copy(w1, w2)
	clear(w1[len(w1)/2:])
	got2, err := b.Decrypt(w2)
	must(t, err)
	if string(got1.Data) != "one" || string(got1.AuthenticatedData) != "ad one" {
		t.Fatalf("first result changed: %q/%q", got1.Data, got1.AuthenticatedData)
	}
	if string(got2.Data) != "two" || string(got2.AuthenticatedData) != "ad two" {
		t.Fatalf("second result: %q/%q", got2.Data, got2.AuthenticatedData)
	}
}

func TestDecryptOtherWireFormats(t *testing.T) {
	a, b := twoMembers(t, DefaultCipherSuite, Config{PublicHandshake: true})
	public, err := a.Propose(&Proposal{Type: ProposalRemove, Removed: 1})
	must(t, err)
	kp, _, _ := newMember(t, DefaultCipherSuite, "carol")
	kpWire, err := (&MLSMessage{WireFormat: WireFormatKeyPackage, KeyPackage: kp}).Marshal()
	must(t, err)
	for _, tt := range []struct {
		name string
		wire []byte
		want error
	}{
		{"public message", public, ErrInvalidContent},
		{"key package", kpWire, ErrInvalidContent},
		{"truncated key package", kpWire[:len(kpWire)-1], ErrMalformed},
		{"bad version", append([]byte{0, 9}, public[2:]...), ErrMalformed},
		{"private, bad version", []byte{0, 9, 0, 2, 0}, ErrMalformed},
		{"private, truncated", []byte{0, 1, 0, 2, 1}, ErrMalformed},
		{"header only", []byte{0, 1, 0, 2}, ErrMalformed},
	} {
		if _, err := b.Decrypt(tt.wire); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestScratchIsWipedAndBounded(t *testing.T) {
	a, b := twoMembers(t, DefaultCipherSuite, Config{PaddingBlock: 64})
	zero := func(name string, g *Group) {
		t.Helper()
		buf := g.framer.scratch.b
		if len(buf) != 0 || cap(buf) > maxScratch {
			t.Fatalf("%s: scratch of length %d, capacity %d", name, len(buf), cap(buf))
		}
		for _, c := range buf[:cap(buf)] {
			if c != 0 {
				t.Fatalf("%s: scratch keeps content", name)
			}
		}
	}
	for _, n := range []int{100, 2 * maxScratch, 10} {
		w, err := a.Encrypt(bytes.Repeat([]byte{0xa5}, n), nil)
		must(t, err)
		zero("sender", a)
		got, err := b.Decrypt(w)
		must(t, err)
		zero("receiver", b)
		if len(got.Data) != n {
			t.Fatalf("got %d bytes, want %d", len(got.Data), n)
		}
	}
}
