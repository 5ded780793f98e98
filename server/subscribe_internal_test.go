package server

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/store"
)

// TestNextBatch: a batch takes at most max envelopes and at most
// maxSubscribeBatchBytes encoded; an envelope larger than that goes
// alone.
func TestNextBatch(t *testing.T) {
	env := func(payload int) *sealinev1.Envelope {
		return &sealinev1.Envelope{Cursor: 1 << 40, ConversationId: "c", Payload: make([]byte, payload)}
	}
	many := func(n, payload int) []*sealinev1.Envelope {
		var out []*sealinev1.Envelope
		for range n {
			out = append(out, env(payload))
		}
		return out
	}
	tests := []struct {
		name string
		envs []*sealinev1.Envelope
		max  int
		want int
	}{
		{"count bound", many(300, 100), 256, 256},
		{"fewer than max", many(10, 100), 256, 10},
		{"max of two", many(10, 100), 2, 2},
		{"byte bound", many(10, 100<<10), 256, 2},
		{"huge first goes alone", append(many(1, 300<<10), many(3, 10)...), 256, 1},
		{"huge second waits", append(many(1, 10), many(1, 300<<10)...), 256, 1},
		{"exactly the bound", many(2, maxSubscribeBatchBytes/2-20), 256, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := nextBatch(tt.envs, tt.max)
			if n != tt.want {
				t.Fatalf("nextBatch = %d, want %d", n, tt.want)
			}
			size := proto.Size(&sealinev1.SubscribeResponse{Event: &sealinev1.SubscribeResponse_Batch{
				Batch: &sealinev1.EnvelopeBatch{Envelopes: tt.envs[:n]}}})
			if n > 1 && size > maxSubscribeBatchBytes+8 {
				t.Fatalf("batch of %d encodes to %d bytes", n, size)
			}
		})
	}
}

// TestEnvelopeProtos: the page conversion gives what one envelope at a
// time with timestamppb.New gives, also when it reuses the storage of a
// larger page before.
func TestEnvelopeProtos(t *testing.T) {
	now := time.Date(2026, 12, 6, 1, 2, 3, 456789, time.UTC)
	pages := [][]store.Envelope{{
		{Cursor: 7, ConversationID: "c1", Kind: store.EnvelopeApplication, Epoch: 3, Payload: []byte{1, 2}, SenderDeviceID: "d1", ServerTime: now},
		{Cursor: 9, ConversationID: "c2", Kind: store.EnvelopeWelcome, Payload: bytes.Repeat([]byte{3}, 40), ServerTime: now.Add(time.Hour)},
	}, {
		{Cursor: 10, ConversationID: "c3", Kind: store.EnvelopeCommit, ServerTime: now.Add(2 * time.Hour)},
	}}
	var buf envelopeBuf
	for _, page := range pages {
		got := buf.protos(page)
		if len(got) != len(page) {
			t.Fatalf("%d envelopes for a page of %d", len(got), len(page))
		}
		for i, e := range page {
			want := &sealinev1.Envelope{Cursor: e.Cursor, ConversationId: e.ConversationID, Kind: sealinev1.Envelope_Kind(e.Kind),
				Epoch: e.Epoch, Payload: e.Payload, SenderDeviceId: e.SenderDeviceID, ServerTime: timestamppb.New(e.ServerTime)}
			if !proto.Equal(got[i], want) {
				t.Errorf("envelope %d: got %v, want %v", i, got[i], want)
			}
		}
	}
}
