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
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
}
