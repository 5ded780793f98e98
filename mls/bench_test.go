package mls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"fmt"
	"testing"
)

// Application message cost against a baseline of the unavoidable work:
// one AES-128-GCM seal (open) of the payload plus one Ed25519 sign
// (verify) over it. Suite 1.
//
//	go test ./mls -run '^$' -bench 'ApplicationMessage|Baseline' -benchmem

var appBenchSizes = []int{100, 10 << 10}

func appSizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func BenchmarkApplicationMessage(b *testing.B) {
	for _, n := range appBenchSizes {
		payload := make([]byte, n)
		b.Run("encrypt/"+appSizeName(n), func(b *testing.B) {
			a, _ := twoMembers(b, DefaultCipherSuite, Config{})
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Encrypt(payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decrypt/"+appSizeName(n), func(b *testing.B) {
			a, r := twoMembers(b, DefaultCipherSuite, Config{})
			const batch = 256
			wires := make([][]byte, 0, batch)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if len(wires) == 0 {
					b.StopTimer()
					for range batch {
						w, err := a.Encrypt(payload, nil)
						must(b, err)
						wires = append(wires, w)
					}
					b.StartTimer()
				}
				if _, err := r.Decrypt(wires[0]); err != nil {
					b.Fatal(err)
				}
				wires = wires[1:]
			}
		})
	}
}

func BenchmarkBaseline(b *testing.B) {
	block, _ := aes.NewCipher(make([]byte, 16))
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	for _, n := range appBenchSizes {
		payload := make([]byte, n)
		b.Run("seal+sign/"+appSizeName(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				sig := ed25519.Sign(priv, payload)
				_ = gcm.Seal(nil, nonce, append(payload, sig...), nil)
			}
		})
		b.Run("open+verify/"+appSizeName(n), func(b *testing.B) {
			sig := ed25519.Sign(priv, payload)
			ct := gcm.Seal(nil, nonce, append(payload, sig...), nil)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				pt, err := gcm.Open(nil, nonce, ct, nil)
				if err != nil || !ed25519.Verify(pub, pt[:n], pt[n:]) {
					b.Fatal("baseline verify")
				}
			}
		})
	}
}
