package client_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// BenchmarkE2EDirectMessage measures one text message from alice to bob
// through the real server on this machine: encrypt, Send (durably
// stored), delivery, decrypt, checks and the receiver's local commit.
// Both sides seal their MLS state and history to disk.
func BenchmarkE2EDirectMessage(b *testing.B) {
	env := testenv.New(b)
	ctx := context.Background()
	alice := env.Messenger(b, env.SDKUser(b, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(b, env.SDKUser(b, "bob", nil), true, client.MessengerConfig{})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		b.Fatal(err)
	}
	waitJoined(b, bob, conv)
	b.ResetTimer()
	for i := range b.N {
		text := fmt.Sprint("benchmark message ", i)
		if _, err := alice.Send(ctx, conv, text); err != nil {
			b.Fatal(err)
		}
		waitText(b, bob, conv, text)
	}
}

// BenchmarkE2EGroupMessage50 measures one message to a group of 50
// (49 receivers, each decrypting and committing locally).
func BenchmarkE2EGroupMessage50(b *testing.B) {
	env := testenv.New(b)
	ctx := context.Background()
	ms, names := newMessengers(b, env, "member", 50)
	conv, err := ms[0].CreateGroup(ctx, "bench", names[1:]...)
	if err != nil {
		b.Fatal(err)
	}
	everyoneJoins(b, ms[1:], conv)
	b.ResetTimer()
	for i := range b.N {
		text := fmt.Sprint("benchmark message ", i)
		if _, err := ms[0].Send(ctx, conv, text); err != nil {
			b.Fatal(err)
		}
		everyoneGets(b, ms[1:], conv, text)
	}
}

// BenchmarkE2EDirectPipelined measures 1:1 throughput and latency when
// the sender has many messages going at once (32 concurrent Sends, sent
// together by the outbox): SDK → TLS → server → store → stream → SDK,
// durable on both clients and the server. It reports messages/s and the
// end-to-end p50 and p99 latency (from the start of Send to the
// receiver's MessageEvent).
func BenchmarkE2EDirectPipelined(b *testing.B) {
	env := testenv.New(b)
	ctx := context.Background()
	alice := env.Messenger(b, env.SDKUser(b, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(b, env.SDKUser(b, "bob", nil), true, client.MessengerConfig{EventBuffer: 4096})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		b.Fatal(err)
	}
	waitJoined(b, bob, conv)
	const workers = 32
	lat := make([]time.Duration, 0, b.N)
	got := make(chan struct{})
	go func() {
		defer close(got)
		for len(lat) < b.N {
			ev := <-bob.Events()
			me, ok := ev.(*client.MessageEvent)
			if !ok {
				continue
			}
			var i, at int64
			if _, err := fmt.Sscanf(me.Message.Text, "pipelined %d %d", &i, &at); err == nil {
				lat = append(lat, time.Since(time.Unix(0, at)))
			}
		}
	}()
	next := make(chan int)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				text := fmt.Sprint("pipelined ", i, " ", time.Now().UnixNano())
				if _, err := alice.Send(ctx, conv, text); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case <-got:
	case <-time.After(time.Minute):
		b.Fatalf("bob received %d of %d", len(lat), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
