package server_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/server"
)

// benchEnv is a server on SQLite with group commit and unbounded queues,
// and a conversation of alice, alice's phone and bob.
// benchEnv starts a server with a trio in one conversation and returns
// an application message of alice's; the recipients' inboxes (tr.inA2,
// tr.inB) are open: a benchmark closes them or reads them.
func benchEnv(b *testing.B, batchMax int) (*testenv.Env, *trio, []byte) {
	e := testenv.New(b, func(c *server.Config) {
		c.Messaging.MaxQueue = 1 << 40
		c.Messaging.BatchMax = batchMax
	})
	tr := newTrio(b, e)
	wire, err := tr.alice.group.Encrypt(make([]byte, 200), nil)
	if err != nil {
		b.Fatal(err)
	}
	return e, tr, wire
}

// BenchmarkSend: pre-encrypted application messages sent by 200
// concurrent senders over TLS 1.3 and HTTP/2 to SQLite, each acknowledged
// only after its batch committed; each send is queued for two devices.
// "offline": the recipients have no open stream; "online": both stream
// every envelope to a client in this process (same two cores).
//
//	go test ./server -run '^$' -bench 'Send$' -benchtime 20000x
func BenchmarkSend(b *testing.B) {
	for _, bc := range []struct {
		name   string
		batch  int
		online bool
	}{{"group-commit/offline", 0, false}, {"group-commit/online", 0, true}, {"one-tx-per-send/offline", 1, false}} {
		b.Run(bc.name, func(b *testing.B) { benchSend(b, bc.batch, bc.online) })
	}
}

func benchSend(b *testing.B, batchMax int, online bool) {
	e, tr, wire := benchEnv(b, batchMax)
	tr.readOrClose(online)
	client := e.Messages(tr.alice.Token)
	epoch := tr.alice.group.Epoch()
	b.SetParallelism(100) // 100 senders per GOMAXPROCS
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		cmid := make([]byte, 16)
		for pb.Next() {
			rand.Read(cmid)
			_, err := client.Send(context.Background(), connect.NewRequest(&sealinev1.SendRequest{
				ConversationId: tr.alice.conv, ClientMessageId: cmid, Epoch: epoch, Message: wire,
			}))
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}

// BenchmarkDeliveryLatency: the time from Send to the recipient's open
// Subscribe stream yielding the envelope, one message at a time.
//
//	go test ./server -run '^$' -bench DeliveryLatency -benchtime 2000x
func BenchmarkDeliveryLatency(b *testing.B) {
	e, tr, wire := benchEnv(b, 0)
	tr.inA2.close()
	tr.inB.close()
	client := e.Messages(tr.alice.Token)
	epoch := tr.alice.group.Epoch()
	in := tr.bob.subscribe(b, 0)
	for in.stream.Receive() && in.stream.Msg().GetEnvelope() != nil {
	}
	cmid := make([]byte, 16)
	b.ResetTimer()
	for range b.N {
		rand.Read(cmid)
		_, err := client.Send(context.Background(), connect.NewRequest(&sealinev1.SendRequest{
			ConversationId: tr.alice.conv, ClientMessageId: cmid, Epoch: epoch, Message: wire,
		}))
		if err != nil {
			b.Fatal(err)
		}
		if !in.stream.Receive() || in.stream.Msg().GetEnvelope() == nil {
			b.Fatalf("no envelope: %v", in.stream.Err())
		}
	}
}

// BenchmarkSendStream: as BenchmarkSend, but the senders pipeline on
// SendStream: 8 concurrent streams, each acknowledgement sent only after
// its batch committed.
//
//	go test ./server -run '^$' -bench 'Send(Stream)?$' -benchtime 20000x
func BenchmarkSendStream(b *testing.B) {
	for _, online := range []bool{false, true} {
		name := map[bool]string{false: "offline", true: "online"}[online]
		b.Run(name, func(b *testing.B) { benchSendStream(b, 8, online) })
	}
}

func benchSendStream(b *testing.B, streams int, online bool) {
	e, tr, wire := benchEnv(b, 0)
	tr.readOrClose(online)
	client := e.Messages(tr.alice.Token)
	epoch := tr.alice.group.Epoch()
	b.ResetTimer()
	start := time.Now()
	onStreams(streams, b.N, func(n int) {
		streamSends(b, client.SendStream(context.Background()), n, &sealinev1.SendRequest{
			ConversationId: tr.alice.conv, Epoch: epoch, Message: wire,
		})
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sends/s")
}

// readOrClose reads and drops everything the recipients' inboxes
// receive when online, and closes them when not.
func (tr *trio) readOrClose(online bool) {
	for _, in := range []*inbox{tr.inA2, tr.inB} {
		if !online {
			in.close()
			continue
		}
		go func() {
			for in.stream.Receive() {
			}
		}()
	}
}

// onStreams runs send on streams goroutines, n sends in all, and waits.
func onStreams(streams, n int, send func(n int)) {
	var wg sync.WaitGroup
	for i := range streams {
		k := n/streams + btoi(i < n%streams)
		wg.Go(func() { send(k) })
	}
	wg.Wait()
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// streamSends sends n copies of tmpl, each with a fresh client message
// id, and reads their acknowledgements.
func streamSends(b *testing.B, s *connect.BidiStreamForClient[sealinev1.SendStreamRequest, sealinev1.SendStreamResponse], n int, tmpl *sealinev1.SendRequest) {
	go func() {
		for i := range n {
			req := &sealinev1.SendRequest{ConversationId: tmpl.ConversationId, Epoch: tmpl.Epoch,
				Message: tmpl.Message, ClientMessageId: make([]byte, 16)}
			rand.Read(req.ClientMessageId)
			if err := s.Send(&sealinev1.SendStreamRequest{Sequence: uint64(i), Send: req}); err != nil {
				b.Error(err)
				return
			}
		}
		s.CloseRequest()
	}()
	for range n {
		r, err := s.Receive()
		if err != nil || r.GetCode() != "" {
			b.Errorf("ack: %v %v", r, err)
			return
		}
	}
	s.CloseResponse()
}
