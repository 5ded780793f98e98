package localstore

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used (user and system), which
// other work on a shared machine disturbs less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBatch is the local transaction of a receive batch of n
// messages in a direct conversation: the messages stored (one statement
// each, or queued and written several rows per statement), the group state
// and the sender record saved and the cursor moved. An op is one
// message; cpu-ns/op counts the CPU of every goroutine.
func BenchmarkBatch(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchBatch(b, n, false) })
		b.Run(fmt.Sprint(n, "rows"), func(b *testing.B) { benchBatch(b, n, true) })
	}
}

func benchBatch(b *testing.B, n int, rows bool) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g := Group{ConvID: "conv-0123456789", GroupID: make([]byte, 32), Direct: true, Peer: "user-1",
		State: make([]byte, 3000)}
	body := make([]byte, 80)
	now := time.Now()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		err := s.Update(func(tx *Tx) error {
			ms := make([]Message, n)
			for k := range ms {
				id := make([]byte, 16) // time-ordered, as the client makes them
				binary.BigEndian.PutUint64(id, uint64(i+k))
				rand.Read(id[8:])
				ms[k] = Message{ConvID: g.ConvID, ID: id, Sender: "user-1/device-1", Seq: uint64(i + k), Kind: 1,
					SentAt: now, ReceivedAt: now.Add(time.Duration(i) * time.Millisecond), Body: body}
			}
			if err := putAll(tx, ms, rows); err != nil {
				return err
			}
			g.SendSeq++
			if err := tx.PutGroup(g); err != nil {
				return err
			}
			if err := tx.PutSender(g.ConvID, "user-1/device-1", SenderState{Highest: uint64(i)}); err != nil {
				return err
			}
			return tx.SetCursor(uint64(i))
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func putAll(tx *Tx, ms []Message, rows bool) error {
	for _, m := range ms {
		put := tx.PutMessage
		if rows {
			put = tx.QueueMessage
		}
		if err := put(m); err != nil {
			return err
		}
	}
	return nil
}
