package sqlite

import (
	"fmt"
	"testing"

	"github.com/sealine/sealine/store/storetest"
)

func BenchmarkPost(b *testing.B) { storetest.BenchPost(b, openTB(b)) }

func BenchmarkAck(b *testing.B) { storetest.BenchAck(b, openTB(b)) }

func BenchmarkPostRooms(b *testing.B) { storetest.BenchPostRooms(b, openTB(b)) }

func BenchmarkPostAck(b *testing.B) {
	for _, perPair := range []int{3, 16} {
		b.Run(fmt.Sprint(8*perPair, "posts"), func(b *testing.B) { storetest.BenchPostAck(b, openTB(b), 8, perPair) })
	}
}
