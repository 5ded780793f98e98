package client

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestStoredBodyMarshal: storedBody.marshal decodes as json.Marshal's
// output does, and equals it byte for byte where json.Marshal escapes no
// HTML character.
func TestStoredBodyMarshal(t *testing.T) {
	for _, b := range []storedBody{
		{},
		{Text: "hello"},
		{Outgoing: true},
		{Text: "hi", Outgoing: true},
		{Attachment: []byte{0, 1, 2, 0xff}},
		{Text: "a", Attachment: []byte("md"), Outgoing: true},
		{Attachment: []byte{}, Outgoing: true},
		{Text: "quote \" backslash \\ slash / tab \t nl \n nul \x00 del \x7f"},
		{Text: "héllo wörld ✓ 🎉 \u2028 \u2029"},
		{Text: "bad utf-8 \xff\xfe end \xe2\x82"},
	} {
		checkStoredBody(t, b, true)
	}
	checkStoredBody(t, storedBody{Text: "<b>&amp;</b>"}, true)
}

func checkStoredBody(t *testing.T, b storedBody, sameBytes bool) {
	t.Helper()
	got := b.marshal()
	want, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if sameBytes && string(got) != string(want) {
		t.Errorf("marshal(%+v) = %s, json.Marshal = %s", b, got, want)
	}
	var g, w storedBody
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("marshal(%+v) = %s: %v", b, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("marshal(%+v) decodes to %+v, json.Marshal's to %+v", b, g, w)
	}
}

func FuzzStoredBodyMarshal(f *testing.F) {
	f.Add("hello", []byte{1, 2}, true)
	f.Add("\xff<\"\\\x01\u2028", []byte{}, false)
	f.Fuzz(func(t *testing.T, text string, att []byte, outgoing bool) {
		checkStoredBody(t, storedBody{Text: text, Attachment: att, Outgoing: outgoing}, true)
	})
}
