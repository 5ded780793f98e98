package postgres

import (
	"testing"

	"github.com/sealine/sealine/store/storetest"
)

func BenchmarkPost(b *testing.B) { storetest.BenchPost(b, openAt(b, testDSN(b))) }

func BenchmarkAck(b *testing.B) { storetest.BenchAck(b, openAt(b, testDSN(b))) }
