package client

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

func TestContentRoundTrip(t *testing.T) {
	base := Content{ID: MessageID{1, 2, 3}, Seq: 7, PrevEpoch: 3, PrevCount: 9, SentAt: time.UnixMilli(1700000000123)}
	for _, tc := range []struct {
		name string
		set  func(c *Content)
	}{
		{"text", func(c *Content) { c.Kind, c.Text = ContentText, "héllo" }},
		{"empty text", func(c *Content) { c.Kind = ContentText }},
		{"receipt", func(c *Content) { c.Kind, c.Receipt, c.ReceiptIDs = ContentReceipt, ReceiptRead, []MessageID{{1}, {2}} }},
		{"typing", func(c *Content) { c.Kind, c.Typing = ContentTyping, true }},
		{"group name", func(c *Content) { c.Kind, c.Name = ContentGroupName, "the crew" }},
		{"epoch check", func(c *Content) { c.Kind, c.Epoch, c.Auth = ContentEpochCheck, 4, bytes.Repeat([]byte{9}, 32) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.set(&c)
			raw, err := marshalContent(&c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseContent(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, c) {
				t.Errorf("got %+v, want %+v", *got, c)
			}
		})
	}
}

func TestContentRejects(t *testing.T) {
	good, _ := marshalContent(&Content{Kind: ContentTyping, Seq: 1, SentAt: time.UnixMilli(0)})
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"bad version", append([]byte{2}, good[1:]...)},
		{"unknown kind", append([]byte{1, 99}, good[2:]...)},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"truncated", good[:len(good)-1]},
		{"typing 2", append(append([]byte{}, good[:len(good)-1]...), 2)},
		{"seq 0", func() []byte {
			b, _ := marshalContent(&Content{Kind: ContentTyping, SentAt: time.UnixMilli(0)})
			return b
		}()},
	} {
		if _, err := parseContent(tc.raw); !errors.Is(err, ErrBadContent) {
			t.Errorf("%s: err = %v, want ErrBadContent", tc.name, err)
		}
	}
}

func FuzzParseContent(f *testing.F) {
	for _, c := range []Content{
		{Kind: ContentText, Seq: 1, Text: "hi"},
		{Kind: ContentReceipt, Seq: 2, Receipt: ReceiptDelivered, ReceiptIDs: []MessageID{{7}}},
		{Kind: ContentEpochCheck, Seq: 3, Epoch: 1, Auth: []byte{1, 2}},
	} {
		c.SentAt = time.UnixMilli(5)
		raw, _ := marshalContent(&c)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := parseContent(raw)
		if err != nil {
			return
		}
		again, err := marshalContent(c)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("round trip: %v\n%x\n%x", err, raw, again)
		}
	})
}

// TestContentTextWire: a text content is laid out as the package doc
// says, and one too long for its length prefix is refused.
func TestContentTextWire(t *testing.T) {
	for _, text := range []string{"", "hi", strings.Repeat("x", 70000)} {
		c := &Content{Kind: ContentText, ID: MessageID{1, 2}, Seq: 3, PrevEpoch: 4, PrevCount: 5,
			SentAt: time.UnixMilli(6), Text: text}
		var b cryptobyte.Builder
		b.AddUint8(contentVersion)
		b.AddUint8(uint8(ContentText))
		b.AddBytes(c.ID[:])
		for _, v := range []uint64{3, 4, 5, 6} {
			b.AddUint64(v)
		}
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(text)) })
		got, err := marshalContent(c)
		if err != nil || !bytes.Equal(got, b.BytesOrPanic()) {
			t.Errorf("text of %d bytes: %x, %v; want %x", len(text), got, err, b.BytesOrPanic())
		}
	}
	if _, err := marshalContent(&Content{Kind: ContentText, Text: strings.Repeat("x", 1<<24)}); !errors.Is(err, ErrBadContent) {
		t.Errorf("text of 16 MiB: %v, want ErrBadContent", err)
	}
}
