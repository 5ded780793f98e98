package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// TestChatEvents checks what the chat shows for each kind of event and
// typed line: security warnings stand out and cannot drive the terminal,
// receipts and typing are brief, this device's own changes are not news.
func TestChatEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := testenv.New(t)
	alice, bob := env.SDKUser(t, "alice", nil), env.SDKUser(t, "bob", nil)
	env.Messenger(t, bob, true, client.MessengerConfig{})
	am := env.Messenger(t, alice, false, client.MessengerConfig{})
	conv, err := am.Direct(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	var bobID string
	for _, cv := range am.Conversations() {
		bobID = cv.Peer
	}
	fromBob := client.Member{UserID: bobID, DeviceID: "d1"}
	var out bytes.Buffer
	s := &chatSession{a: newApp(strings.NewReader(""), &out, &out, func(string) string { return "" }), m: am, conv: conv, out: &out}

	tests := []struct {
		name string
		ev   client.Event
		want string // "" means nothing shown
	}{
		{"warning", &client.SecurityWarning{ConvID: conv, Kind: client.WarnReplay, Detail: "same\x1b[2Jmessage"},
			"!!! SECURITY WARNING " + client.WarnReplay.String() + " in @bob: same?[2Jmessage !!!\n"},
		{"read receipt", &client.ReceiptEvent{ConvID: conv, From: fromBob, Kind: client.ReceiptRead, IDs: make([]client.MessageID, 2)},
			"(bob read 2 message(s))\n"},
		{"delivered receipt", &client.ReceiptEvent{ConvID: conv, From: fromBob, Kind: client.ReceiptDelivered, IDs: make([]client.MessageID, 1)}, ""},
		{"typing", &client.TypingEvent{ConvID: conv, From: fromBob, Typing: true}, "(bob is typing)\n"},
		{"stopped typing", &client.TypingEvent{ConvID: conv, From: fromBob}, ""},
		{"own member change", &client.MemberEvent{ConvID: conv, By: am.Me(), Added: []client.Member{fromBob}}, ""},
		{"member change", &client.MemberEvent{ConvID: conv, By: fromBob, Added: []client.Member{fromBob}},
			conv + " members: 1 added, 0 removed by bob\n"},
		{"other conversation", &client.MessageEvent{Message: client.Message{ConvID: "c-other", From: fromBob, Text: "psst",
			SentAt: time.Date(2020, 1, 2, 3, 4, 0, 0, time.Local)}}, "[2020-01-02 03:04] (in c-other) bob: psst\n"},
	}
	for _, tt := range tests {
		out.Reset()
		s.event(ctx, tt.ev)
		if out.String() != tt.want {
			t.Errorf("%s: shown %q, want %q", tt.name, out.String(), tt.want)
		}
	}

	for _, tt := range []struct {
		line, want string
		more       bool
	}{
		{"   ", "", true},
		{"/help", chatHelp + "\n", true},
		{"/frobnicate now", "unknown command /frobnicate; /help lists the commands\n", true},
		{"/members", "  me (1 device(s))\n  bob (1 device(s))\n", true},
		{"//slash at the start", "", true},
		{"/quit", "", false},
	} {
		out.Reset()
		if more := s.input(ctx, tt.line); more != tt.more || out.String() != tt.want {
			t.Errorf("input %q: more %v, shown %q; want %v, %q", tt.line, more, out.String(), tt.more, tt.want)
		}
	}
	if s.failed != 0 || s.result(nil) != nil {
		t.Errorf("failed %d, result %v", s.failed, s.result(nil))
	}
	s.failed = 2
	if err := s.result(nil); err == nil || !strings.Contains(err.Error(), "2 message(s) not sent") {
		t.Errorf("result with 2 failed sends: %v", err)
	}
}
