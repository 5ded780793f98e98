package client

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/sealine/sealine/mls"
)

// TestConversationEpochTag: a conversation's epoch tag equals epochTag of
// its group, is worked out once per epoch (no allocation per message),
// and follows the group to its next epoch and to a new group state.
func TestConversationEpochTag(t *testing.T) {
	newGroup := func(t *testing.T) *mls.Group {
		t.Helper()
		cs := mls.CipherSuite(1)
		sig, err := cs.GenerateSignatureKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		kp, priv, err := mls.NewKeyPackage(mls.KeyPackageParams{
			CipherSuite:  cs,
			Credential:   mls.Credential{Type: mls.CredentialBasic, Identity: []byte("alice/1")},
			SignatureKey: sig,
			Lifetime:     mls.LifetimeFrom(time.Now(), time.Hour, 24*time.Hour),
			Rand:         rand.Reader,
		})
		if err != nil {
			t.Fatal(err)
		}
		g, err := mls.NewGroup(mls.Config{Rand: rand.Reader, Now: time.Now}, []byte("group"), kp, priv, sig, nil)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	cv := &conversation{g: newGroup(t)}
	first := cv.epochTag()
	if !bytes.Equal(first, epochTag(cv.g)) || len(first) != 17 || first[0] != 1 {
		t.Fatalf("tag %x, want %x", first, epochTag(cv.g))
	}
	if n := testing.AllocsPerRun(100, func() { cv.epochTag() }); n != 0 {
		t.Errorf("%v allocations per call within an epoch, want 0", n)
	}
	pc, err := cv.g.Commit(mls.CommitParams{}) // an empty commit: the next epoch
	if err != nil {
		t.Fatal(err)
	}
	if err := cv.g.MergeCommit(pc); err != nil {
		t.Fatal(err)
	}
	next := cv.epochTag()
	if bytes.Equal(next, first) || !bytes.Equal(next, epochTag(cv.g)) {
		t.Errorf("after a commit: tag %x, want %x", next, epochTag(cv.g))
	}
	cv.g = newGroup(t) // a reloaded or replaced state
	if got := cv.epochTag(); bytes.Equal(got, next) || !bytes.Equal(got, epochTag(cv.g)) {
		t.Errorf("after a new group state: tag %x, want %x", got, epochTag(cv.g))
	}
}
