package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// BenchPurge measures the retention purge of queued messages: each round
// queues 1,000 messages for two devices, then purges them in batches of
// 500. It reports messages purged per second.
//
//	func BenchmarkPurge(b *testing.B) { storetest.BenchPurge(b, openBench(b)) }
func BenchPurge(b *testing.B, s store.Store) {
	const n = 1000
	r := newBenchRoom(b, s)
	round := 0
	var purged int64
	for b.Loop() {
		b.StopTimer()
		round++
		posts := make([]store.Post, n)
		for i := range posts {
			posts[i] = r.send(fmt.Sprintf("%d-%d", round, i), 1)
			posts[i].MaxQueue = 10 * n
		}
		if _, err := s.Post(b.Context(), posts); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for {
			m, err := s.Purge(b.Context(), store.PurgeQueued, t0.Add(time.Second), 500)
			if err != nil {
				b.Fatal(err)
			}
			purged += m
			if m < 500 {
				break
			}
		}
	}
	b.ReportMetric(float64(purged)/b.Elapsed().Seconds(), "msgs/s")
}

// newBenchRoom is newRoom for a benchmark.
func newBenchRoom(b *testing.B, s store.Store) room { return newBenchRoomNamed(b, s, "bench") }

// newBenchRoomNamed is newBenchRoom with its names made from name.
func newBenchRoomNamed(b *testing.B, s store.Store, name string) room {
	r := room{a: newAccount(name + "-a"), b: newAccount(name + "-b")}
	for _, a := range []account{r.a, r.b} {
		if err := s.CreateUser(b.Context(), a.u, a.d, a.s); err != nil {
			b.Fatal(err)
		}
	}
	r.conv = store.Conversation{ID: "c-" + name, GroupID: []byte("group-" + name), Kind: store.KindGroup, CreatedAt: t0}
	if err := s.CreateConversation(b.Context(), r.conv, r.a.u.ID, r.a.d.ID); err != nil {
		b.Fatal(err)
	}
	c := r.commit("add", 0)
	c.Added = []string{r.b.d.ID}
	if res, err := s.Post(b.Context(), []store.Post{c}); err != nil || res[0].Err != nil {
		b.Fatalf("add: %v %v", err, res)
	}
	return r
}
