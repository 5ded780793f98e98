package client_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// BenchmarkE2EDirectMessage measures one text message from alice to bob
// through the real server on this machine: encrypt, Send (durably
// stored), delivery, decrypt, checks and the receiver's local commit.
// Both sides seal their MLS state and history to disk.
func BenchmarkE2EDirectMessage(b *testing.B) {
	env := testenv.New(b)
	ctx := context.Background()
	alice := env.Messenger(b, env.SDKUser(b, "alice", nil), true, client.MessengerConfig{})
	bob := env.Messenger(b, env.SDKUser(b, "bob", nil), true, client.MessengerConfig{})
	conv, err := alice.Direct(ctx, "bob")
	if err != nil {
		b.Fatal(err)
	}
	waitJoined(b, bob, conv)
	b.ResetTimer()
	for i := range b.N {
		text := fmt.Sprint("benchmark message ", i)
		if _, err := alice.Send(ctx, conv, text); err != nil {
			b.Fatal(err)
		}
		waitText(b, bob, conv, text)
	}
}

// BenchmarkE2EGroupMessage50 measures one message to a group of 50
// (49 receivers, each decrypting and committing locally).
func BenchmarkE2EGroupMessage50(b *testing.B) {
	env := testenv.New(b)
	ctx := context.Background()
	ms, names := newMessengers(b, env, "member", 50)
	conv, err := ms[0].CreateGroup(ctx, "bench", names[1:]...)
	if err != nil {
		b.Fatal(err)
	}
	everyoneJoins(b, ms[1:], conv)
	b.ResetTimer()
	for i := range b.N {
		text := fmt.Sprint("benchmark message ", i)
		if _, err := ms[0].Send(ctx, conv, text); err != nil {
			b.Fatal(err)
		}
		everyoneGets(b, ms[1:], conv, text)
	}
}
