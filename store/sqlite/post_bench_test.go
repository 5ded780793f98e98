package sqlite

import (
	"testing"

	"github.com/sealine/sealine/store/storetest"
)

func BenchmarkPost(b *testing.B) { storetest.BenchPost(b, openTB(b)) }

func BenchmarkAck(b *testing.B) { storetest.BenchAck(b, openTB(b)) }

func BenchmarkPostRooms(b *testing.B) { storetest.BenchPostRooms(b, openTB(b)) }
