package client

import (
	"fmt"
	"slices"
	"testing"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// TestFeed: whether the server sends one envelope per response or
// batches, the receiver handles the same local batches: a run of
// application envelopes (at most maxBatch), any other envelope alone, and
// the caught-up mark with the batch it follows.
func TestFeed(t *testing.T) {
	const app, commit, welcome = sealinev1.Envelope_KIND_APPLICATION, sealinev1.Envelope_KIND_COMMIT, sealinev1.Envelope_KIND_WELCOME
	cursor := uint64(0)
	env := func(k sealinev1.Envelope_Kind) *sealinev1.Envelope {
		cursor++
		return &sealinev1.Envelope{Cursor: cursor, Kind: k}
	}
	one := func(k sealinev1.Envelope_Kind) *sealinev1.SubscribeResponse {
		return &sealinev1.SubscribeResponse{Event: &sealinev1.SubscribeResponse_Envelope{Envelope: env(k)}}
	}
	batch := func(kinds ...sealinev1.Envelope_Kind) *sealinev1.SubscribeResponse {
		b := &sealinev1.EnvelopeBatch{}
		for _, k := range kinds {
			b.Envelopes = append(b.Envelopes, env(k))
		}
		return &sealinev1.SubscribeResponse{Event: &sealinev1.SubscribeResponse_Batch{Batch: b}}
	}
	apps := func(n int) []sealinev1.Envelope_Kind { return slices.Repeat([]sealinev1.Envelope_Kind{app}, n) }
	caughtUp := &sealinev1.SubscribeResponse{Event: &sealinev1.SubscribeResponse_CaughtUp{}}
	tests := []struct {
		name  string
		resps func() []*sealinev1.SubscribeResponse
		want  []string // each batch as "first-last" cursors, "+" when caught up
	}{
		{"one per response", func() []*sealinev1.SubscribeResponse {
			return []*sealinev1.SubscribeResponse{one(app), one(app), one(commit), one(app), caughtUp, one(app)}
		}, []string{"1-2", "3-3", "4-4+", "5-5"}},
		{"mixed batch", func() []*sealinev1.SubscribeResponse {
			return []*sealinev1.SubscribeResponse{batch(app, app, commit, app), caughtUp}
		}, []string{"1-2", "3-3", "4-4+"}},
		{"batches join", func() []*sealinev1.SubscribeResponse {
			return []*sealinev1.SubscribeResponse{batch(app, app), one(app), batch(app), caughtUp}
		}, []string{"1-4+"}},
		{"caught up first", func() []*sealinev1.SubscribeResponse {
			return []*sealinev1.SubscribeResponse{caughtUp, batch(app)}
		}, []string{"+", "1-1"}},
		{"at most maxBatch", func() []*sealinev1.SubscribeResponse {
			return []*sealinev1.SubscribeResponse{batch(apps(100)...), batch(apps(100)...)}
		}, []string{"1-128", "129-200"}},
		{"welcome alone", func() []*sealinev1.SubscribeResponse {
			return []*sealinev1.SubscribeResponse{batch(welcome, app), caughtUp}
		}, []string{"1-1", "2-2+"}},
		{"empty and unknown responses skipped", func() []*sealinev1.SubscribeResponse {
			return []*sealinev1.SubscribeResponse{{}, batch(), one(app)}
		}, []string{"1-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cursor = 0
			resps := tt.resps()
			in := make(chan *sealinev1.SubscribeResponse, len(resps))
			for _, r := range resps {
				in <- r
			}
			close(in)
			f := &feed{in: in}
			var got []string
			for {
				b, caughtUp, ok := f.next()
				if !ok {
					break
				}
				s := ""
				if len(b) > 0 {
					s = fmt.Sprintf("%d-%d", b[0].GetCursor(), b[len(b)-1].GetCursor())
				}
				if caughtUp {
					s += "+"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("batches %q, want %q", got, tt.want)
			}
		})
	}
}
