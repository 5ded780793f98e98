package server_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/testenv"
)

// BenchmarkPing measures an authenticated no-op RPC through the whole
// stack: TLS 1.3, HTTP/2, Connect, bearer session lookup in SQLite.
func BenchmarkPing(b *testing.B) { benchPing(b, testenv.New(b)) }

// BenchmarkPingPostgres is the same with the session in PostgreSQL.
func BenchmarkPingPostgres(b *testing.B) { benchPing(b, testenv.New(b, testenv.WithPostgres(b))) }

func benchPing(b *testing.B, e *testenv.Env) {
	s := e.Register(b, "bench", "correct horse battery", "", "laptop")
	client := e.Devices(s.GetToken())
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Ping(ctx, connect.NewRequest(&sealinev1.PingRequest{})); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
