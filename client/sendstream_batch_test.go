package client_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// TestStreamSenderSendAll: SendAll returns one sequence per message and
// every message gets exactly one ack with its own outcome, whether it
// goes alone (before the server's first response) or in batched
// requests bounded by count and bytes (after).
func TestStreamSenderSendAll(t *testing.T) {
	tests := []struct {
		name string
		n    int
		size int
	}{
		{"many small", 600, 100},
		{"large ones go alone", 4, 150 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testenv.New(t)
			c := newClient(t, env)
			register(t, c, "alice")
			s, err := c.SendStream(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			bad := func(i int) client.StreamMessage {
				cmid := bytes.Repeat([]byte{byte(i)}, 16)
				if i%3 == 0 {
					cmid = []byte("short")
				}
				return client.StreamMessage{ConversationID: "c-x", ClientMessageID: cmid, Epoch: 1, Message: make([]byte, tt.size)}
			}
			// The first message goes alone; its ack says the server takes batches.
			first, err := s.SendAll([]client.StreamMessage{bad(1)})
			if err != nil || len(first) != 1 {
				t.Fatalf("SendAll: %v, %v", first, err)
			}
			if a := <-s.Acks(); a.Sequence != first[0] || !errors.Is(a.Err, client.ErrInvalidInput) {
				t.Fatalf("first ack %d: %v", a.Sequence, a.Err)
			}
			ms := make([]client.StreamMessage, tt.n)
			for i := range ms {
				ms[i] = bad(i)
			}
			seqs, err := s.SendAll(ms)
			if err != nil || len(seqs) != tt.n {
				t.Fatalf("SendAll: %d sequences, %v", len(seqs), err)
			}
			want := map[uint64]bool{}
			for i, seq := range seqs {
				if seq != first[0]+1+uint64(i) {
					t.Fatalf("sequence %d is %d, want %d", i, seq, first[0]+1+uint64(i))
				}
				want[seq] = true
			}
			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
			for a := range s.Acks() {
				if !want[a.Sequence] || !errors.Is(a.Err, client.ErrInvalidInput) {
					t.Fatalf("ack %d: %v", a.Sequence, a.Err)
				}
				delete(want, a.Sequence)
			}
			if len(want) != 0 || s.Err() != nil {
				t.Fatalf("%d messages without an ack, err %v", len(want), s.Err())
			}
		})
	}
}
