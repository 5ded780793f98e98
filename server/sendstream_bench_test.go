package server_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// BenchmarkSendStreamBatched: SendStream as the SDK's outbox uses it:
// 8 streams, each sending requests of up to 64 messages and taking
// batched answers, at most 512 messages in flight per stream. "online":
// alice's phone and bob each have a Subscribe stream with max_batch 128,
// read to the end as the SDK does; the benchmark ends when both have
// every message.
//
//	go test ./server -run '^$' -bench SendStreamBatched -benchtime 40000x
func BenchmarkSendStreamBatched(b *testing.B) {
	for _, online := range []bool{false, true} {
		name := map[bool]string{false: "offline", true: "online"}[online]
		b.Run(name, func(b *testing.B) { benchSendStreamBatched(b, 8, online) })
	}
}

func benchSendStreamBatched(b *testing.B, streams int, online bool) {
	e, tr, wire := benchEnv(b, 0)
	tr.inA2.close()
	tr.inB.close()
	var delivered sync.WaitGroup
	if online {
		for _, m := range []*member{tr.alice2, tr.bob} {
			delivered.Go(func() { receiveAll(b, e.Messages(m.Token, noGzip), b.N) })
		}
	}
	client := e.Messages(tr.alice.Token, noGzip)
	epoch := tr.alice.group.Epoch()
	b.ResetTimer()
	start := time.Now()
	onStreams(streams, b.N, func(n int) {
		batchedSends(b, client.SendStream(context.Background()), n, &sealinev1.SendRequest{
			ConversationId: tr.alice.conv, Epoch: epoch, Message: wire,
		})
	})
	delivered.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}

// noGzip: the SDK's streams take no gzip (client.streamOptions).
var noGzip = connect.WithAcceptCompression("gzip", nil, nil)

// receiveAll reads a Subscribe stream with max_batch 128 until it has
// yielded n application envelopes.
func receiveAll(b *testing.B, msgs interface {
	Subscribe(context.Context, *connect.Request[sealinev1.SubscribeRequest]) (*connect.ServerStreamForClient[sealinev1.SubscribeResponse], error)
}, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := msgs.Subscribe(ctx, connect.NewRequest(&sealinev1.SubscribeRequest{MaxBatch: 128}))
	if err != nil {
		b.Error(err)
		return
	}
	defer s.Close()
	got := 0
	for got < n && s.Receive() {
		switch ev := s.Msg().GetEvent().(type) {
		case *sealinev1.SubscribeResponse_Envelope:
			got += btoi(ev.Envelope.GetKind() == sealinev1.Envelope_KIND_APPLICATION)
		case *sealinev1.SubscribeResponse_Batch:
			for _, env := range ev.Batch.GetEnvelopes() {
				got += btoi(env.GetKind() == sealinev1.Envelope_KIND_APPLICATION)
			}
		}
	}
	if got < n {
		b.Errorf("received %d of %d: %v", got, n, s.Err())
	}
}

// batchedSends sends n copies of tmpl, each with a fresh client message
// id, in requests of up to 64 and at most 512 unanswered, and reads the
// batched answers.
func batchedSends(b *testing.B, s *connect.BidiStreamForClient[sealinev1.SendStreamRequest, sealinev1.SendStreamResponse], n int, tmpl *sealinev1.SendRequest) {
	const perRequest, window = 64, 512
	credit := make(chan struct{}, window)
	for range window {
		credit <- struct{}{}
	}
	go func() {
		seq := uint64(0)
		for sent := 0; sent < n; {
			req := &sealinev1.SendStreamRequest{BatchResponses: true}
			for ; sent < n && len(req.Batch) < perRequest; sent++ {
				<-credit
				seq++
				m := &sealinev1.SendRequest{ConversationId: tmpl.ConversationId, Epoch: tmpl.Epoch,
					Message: tmpl.Message, ClientMessageId: make([]byte, 16)}
				rand.Read(m.ClientMessageId)
				req.Batch = append(req.Batch, &sealinev1.SendStreamRequest{Sequence: seq, Send: m})
				if len(credit) == 0 {
					break
				}
			}
			if err := s.Send(req); err != nil {
				b.Error(err)
				return
			}
		}
		s.CloseRequest()
	}()
	for acked := 0; acked < n; {
		r, err := s.Receive()
		if err != nil {
			b.Errorf("ack: %v", err)
			return
		}
		answers := r.GetBatch()
		if len(answers) == 0 {
			answers = []*sealinev1.SendStreamResponse{r}
		}
		for _, a := range answers {
			if a.GetCode() != "" {
				b.Errorf("ack: %v", a)
				return
			}
			acked++
			credit <- struct{}{}
		}
	}
	s.CloseResponse()
}
