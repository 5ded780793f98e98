package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// Bench runs the store benchmarks against s, a fresh store:
//
//	func BenchmarkStore(b *testing.B) { storetest.Bench(b, openBench(b)) }
func Bench(b *testing.B, s store.Store) {
	a := newAccount("bench")
	if err := s.CreateUser(b.Context(), a.u, a.d, a.s); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64 // device numbers stay unique across b.Run rounds
	for range 100 {       // sessions for SessionByTokenHash to find
		n := next.Add(1)
		d, ses := newDevice(a.u.ID, fmt.Sprintf("bench-dev-%d", n), t0.Add(time.Duration(n)))
		if err := s.CreateDevice(b.Context(), d, ses); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("CreateDevice", func(b *testing.B) {
		for b.Loop() {
			n := next.Add(1)
			d, ses := newDevice(a.u.ID, fmt.Sprintf("bench-dev-%d", n), t0.Add(time.Duration(n)))
			if err := s.CreateDevice(b.Context(), d, ses); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SessionByTokenHash", func(b *testing.B) {
		var i atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				name := fmt.Sprintf("bench-dev-%d", i.Add(1)%next.Load()+1)
				if _, err := s.SessionByTokenHash(b.Context(), sum("token-"+name), t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("RecordLoginFailure", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := s.RecordLoginFailure(b.Context(), a.u.ID, 0, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
