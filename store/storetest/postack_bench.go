package storetest

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// BenchPostAck measures what the server's group commit writes under a
// 1:1 load: pairs two-device conversations, each Write holding perPair
// application posts of every pair (300-byte payloads, ids that start
// with the clock as the server's do, random 16-byte client message ids)
// and the acks of two recipients, in turn, of everything queued for
// them. It reports posts per second and, where the platform says, CPU
// time per post (the whole process: the store, its driver and the
// garbage collector).
//
//	func BenchmarkPostAck(b *testing.B) { storetest.BenchPostAck(b, openBench(b), 8, 16) }
func BenchPostAck(b *testing.B, s store.Store, pairs, perPair int) {
	rooms := make([]room, pairs)
	cursors := make([]uint64, pairs) // last cursor queued for each room's b
	for i := range rooms {
		rooms[i] = newBenchRoomNamed(b, s, fmt.Sprint("postack-", i))
	}
	payload := make([]byte, 300)
	rand.Read(payload)
	posts := make([]store.Post, 0, pairs*perPair)
	n, turn := 0, 0
	cpu0, cpuOK := cpuTime()
	for b.Loop() {
		posts = posts[:0]
		for _, r := range rooms {
			for range perPair {
				p := r.send("", 1)
				p.ID, p.ClientMessageID, p.Payload, p.MaxQueue = serverID(), randomID(), payload, 1<<30
				posts = append(posts, p)
			}
		}
		var acks []store.AckRequest
		for range 2 {
			if i := turn % pairs; cursors[i] > 0 {
				acks = append(acks, store.AckRequest{DeviceID: rooms[i].b.d.ID, Cursor: cursors[i]})
			}
			turn++
		}
		res, ackRes, err := s.Write(b.Context(), posts, acks)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil || r.Duplicate {
				b.Fatalf("post: %v (duplicate %v)", r.Err, r.Duplicate)
			}
		}
		for _, a := range ackRes {
			if a.Err != nil || a.Removed == 0 {
				b.Fatalf("ack: %+v", a)
			}
		}
		for i := range cursors {
			cursors[i] += uint64(perPair)
		}
		n += len(posts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "posts/s")
	if cpu1, ok := cpuTime(); ok && cpuOK && n > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(n), "cpu-µs/post")
	}
}

// serverID is a message id as the server makes them: the clock's
// nanoseconds, then 8 random bytes.
func serverID() string {
	id := make([]byte, 16)
	binary.BigEndian.PutUint64(id, uint64(time.Now().UnixNano()))
	rand.Read(id[8:])
	return "m" + hex.EncodeToString(id)
}

func randomID() []byte {
	id := make([]byte, 16)
	rand.Read(id)
	return id
}
