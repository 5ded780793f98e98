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

// Commit cost by group size: creating a full Commit (with an
// UpdatePath) and processing it, suite 1. The groups are freshly built
// by one Add commit, so most parent nodes are blank and the path is
// encrypted to many resolution nodes: the costly case.
//
//	go test ./mls -run '^$' -bench 'Commit' -benchmem
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{2, 16, 128} {
		alice, bob := benchCommitGroup(b, n)
		aliceState, err := alice.g.MarshalState()
		must(b, err)
		b.Run(fmt.Sprintf("create/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := alice.g.Commit(CommitParams{ForcePath: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("process/%d", n), func(b *testing.B) {
			// A fresh copy of Alice: her handshake ratchet is not
			// beyond Bob's forward-jump bound after "create".
			a, err := LoadGroup(Config{}, aliceState)
			must(b, err)
			pc, err := a.Commit(CommitParams{ForcePath: true})
			must(b, err)
			state, err := bob.g.MarshalState()
			must(b, err)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				g, err := LoadGroup(Config{}, state)
				must(b, err)
				b.StartTimer()
				if _, err := g.Process(pc.Commit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchCommitGroup returns the creator and the last joiner of an n-member
// group built by one Add commit.
func benchCommitGroup(b *testing.B, n int) (alice, last *member) {
	alice = newTestMemberTB(b, DefaultCipherSuite, "alice")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("bench"), alice.kp, alice.priv, alice.sig, nil)
	must(b, err)
	var kps []*KeyPackage
	for i := 1; i < n; i++ {
		last = newTestMemberTB(b, DefaultCipherSuite, fmt.Sprintf("m%d", i))
		kps = append(kps, last.kp)
	}
	pc, err := alice.g.Commit(CommitParams{Add: kps})
	must(b, err)
	must(b, alice.g.MergeCommit(pc))
	msg, err := ParseMLSMessage(pc.Welcome)
	must(b, err)
	last.g, err = Join(Config{}, JoinParams{Welcome: msg.Welcome, KeyPackage: last.kp, Private: last.priv, SignatureKey: last.sig})
	must(b, err)
	return alice, last
}
