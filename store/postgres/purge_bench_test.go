package postgres

import (
	"testing"

	"github.com/sealine/sealine/store/storetest"
)

func BenchmarkPurge(b *testing.B) { storetest.BenchPurge(b, openAt(b, testDSN(b))) }
