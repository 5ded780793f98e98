package storetest

import (
	"fmt"
	"testing"

	"github.com/sealine/sealine/store"
)

// postBatch is the posts of one Post call in BenchPost, about what the
// server's group commit gathers under load.
const postBatch = 128

// BenchPost measures Post as the server's group commit calls it: batches
// of 128 application messages to a two-device conversation (one recipient
// each). It reports posts per second.
//
//	func BenchmarkPost(b *testing.B) { storetest.BenchPost(b, openBench(b)) }
func BenchPost(b *testing.B, s store.Store) {
	r := newBenchRoom(b, s)
	posts := make([]store.Post, 0, postBatch)
	n := 0
	for b.Loop() {
		posts = posts[:0]
		for range postBatch {
			n++
			p := r.send(fmt.Sprint(n), 1)
			p.MaxQueue = 1 << 30
			posts = append(posts, p)
		}
		postAllFresh(b, s, posts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}

// BenchPostRooms is BenchPost with each post of a batch in its own
// two-device conversation, from and to devices no other post of the
// batch has: what a server with many users talking in pairs gathers. It
// reports posts per second.
//
//	func BenchmarkPostRooms(b *testing.B) { storetest.BenchPostRooms(b, openBench(b)) }
func BenchPostRooms(b *testing.B, s store.Store) {
	rooms := make([]room, postBatch)
	for i := range rooms {
		rooms[i] = newBenchRoomNamed(b, s, fmt.Sprint("bench-", i))
	}
	posts := make([]store.Post, postBatch)
	n := 0
	for b.Loop() {
		for i, r := range rooms {
			n++
			posts[i] = r.send(fmt.Sprint(n), 1)
			posts[i].MaxQueue = 1 << 30
		}
		postAllFresh(b, s, posts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}

// BenchAck measures acks as the server's group commit writes them: each
// Write holds 128 acks, each removing one envelope and its message. The
// envelopes are posted with the timer stopped. It reports acks per second.
//
//	func BenchmarkAck(b *testing.B) { storetest.BenchAck(b, openBench(b)) }
func BenchAck(b *testing.B, s store.Store) {
	r := newBenchRoom(b, s)
	posts := make([]store.Post, 0, postBatch)
	acks := make([]store.AckRequest, 0, postBatch)
	var cursor uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		posts = posts[:0]
		for range postBatch {
			p := r.send(fmt.Sprint(i, "-", len(posts)), 1)
			p.MaxQueue = 1 << 30
			posts = append(posts, p)
		}
		if _, err := s.Post(b.Context(), posts); err != nil {
			b.Fatal(err)
		}
		acks = acks[:0]
		for range postBatch {
			cursor++
			acks = append(acks, store.AckRequest{DeviceID: r.b.d.ID, Cursor: cursor})
		}
		b.StartTimer()
		_, res, err := s.Write(b.Context(), nil, acks)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range res {
			if a.Err != nil || a.Removed != 1 {
				b.Fatalf("ack: %+v", a)
			}
		}
	}
	b.ReportMetric(float64(b.N*postBatch)/b.Elapsed().Seconds(), "acks/s")
}

// postAllFresh posts and fails the benchmark unless every post was stored
// as new.
func postAllFresh(b *testing.B, s store.Store, posts []store.Post) {
	res, err := s.Post(b.Context(), posts)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || r.Duplicate {
			b.Fatalf("post: %v (duplicate %v)", r.Err, r.Duplicate)
		}
	}
}
