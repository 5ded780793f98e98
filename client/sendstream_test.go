package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// TestStreamSenderRefusals: refused messages on a SendStream each get an
// ack with an *Error matching its sentinel; after CloseSend every ack
// arrives, Acks is closed and Err is nil.
func TestStreamSenderRefusals(t *testing.T) {
	env := testenv.New(t)
	c := newClient(t, env)
	register(t, c, "alice")
	s, err := c.SendStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs := []client.StreamMessage{
		{ConversationID: "c-x", ClientMessageID: make([]byte, 16), Epoch: 1, Message: []byte{0, 1}},
		{ConversationID: "c-x", ClientMessageID: []byte("short"), Epoch: 1, Message: []byte{0, 1}},
	}
	want := map[uint64]string{}
	for _, m := range msgs {
		seq, err := s.Send(m)
		if err != nil {
			t.Fatal(err)
		}
		want[seq] = ""
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for a := range s.Acks() {
		n++
		var e *client.Error
		if _, ok := want[a.Sequence]; !ok || !errors.Is(a.Err, client.ErrInvalidInput) || !errors.As(a.Err, &e) {
			t.Errorf("ack %d: %v", a.Sequence, a.Err)
		}
	}
	if n != len(msgs) || s.Err() != nil {
		t.Fatalf("%d acks, err %v; want %d, nil", n, s.Err(), len(msgs))
	}
}
