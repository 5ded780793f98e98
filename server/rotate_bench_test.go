package server_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/server"
)

// BenchmarkRotateKEK measures a KEK rotation over a SQLite key store of
// 2,000 wrapped keys; keys/s is the rewrap rate.
func BenchmarkRotateKEK(b *testing.B) {
	const n = 2000
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		cfg := server.Config{DataDir: dir}
		kek, err := pii.LoadOrCreateKEK(filepath.Join(dir, "kek.key"), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		a, err := server.OpenAdmin(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if _, err := kek.CreateDataKey(ctx, a.Store().Keys(), fmt.Sprintf("u%d", i), time.Now(), rand.Reader); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		rep, err := a.RotateKEK(ctx, 500, nil)
		b.StopTimer()
		if err != nil || rep.Rewrapped != n {
			b.Fatalf("rotate: %+v, %v", rep, err)
		}
		a.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}
