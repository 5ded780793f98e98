package mls

import (
	"bytes"
	"errors"
	"testing"
)

// reload replaces m's group with one restored from its marshalled state
// and checks that the state re-encodes identically.
func reload(t testing.TB, m *member, cfg Config) {
	t.Helper()
	state, err := m.g.MarshalState()
	must(t, err)
	g, err := LoadGroup(cfg, state)
	must(t, err)
	again, err := g.MarshalState()
	must(t, err)
	if !bytes.Equal(state, again) {
		t.Fatal("state does not re-encode identically")
	}
	m.g = g
}

// TestGroupStateRoundTrip saves and restores members mid-conversation,
// for every suite: skipped keys, a cached proposal with its private
// key and a past epoch survive, and the state re-encodes identically.
func TestGroupStateRoundTrip(t *testing.T) {
	for _, cs := range supportedSuites {
		t.Run(cs.String(), func(t *testing.T) {
			cfg := Config{}
			alice, bob, carol := newTestMember(t, cs, "alice"), newTestMember(t, cs, "bob"), newTestMember(t, cs, "carol")
			var err error
			alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
			must(t, err)
			reload(t, alice, cfg)
			pc := commitAndDeliver(t, alice, CommitParams{Add: []*KeyPackage{bob.kp, carol.kp}})
			bob.join(t, cfg, pc.Welcome)
			carol.join(t, cfg, pc.Welcome)

			// Out-of-order keys, a cached proposal with its private key and
			// a past epoch all survive a reload.
			m1, _ := alice.g.Encrypt([]byte("one"), nil)
			m2, _ := alice.g.Encrypt([]byte("two"), nil)
			_, err = bob.g.Process(m2)
			must(t, err)
			up, err := bob.g.ProposeUpdate()
			must(t, err)
			_, err = carol.g.Process(up)
			must(t, err)
			reload(t, bob, cfg)
			reload(t, carol, cfg)
			if rcv, err := bob.g.Process(m1); err != nil || string(rcv.Application.Data) != "one" {
				t.Fatalf("skipped key after reload: %v", err)
			}
			if _, err := bob.g.Process(m2); !errors.Is(err, ErrReplay) {
				t.Fatalf("replay after reload: %v", err)
			}
			_, err = alice.g.Process(up)
			must(t, err)
			late, _ := alice.g.Encrypt([]byte("late"), nil)
			commitAndDeliver(t, carol, CommitParams{}, alice, bob)
			reload(t, bob, cfg)
			if rcv, err := bob.g.Process(late); err != nil || string(rcv.Application.Data) != "late" {
				t.Fatalf("past epoch after reload: %v", err)
			}
			checkAgree(t, alice, bob, carol)
		})
	}
}

func TestLoadGroupRejects(t *testing.T) {
	alice := newTestMember(t, 1, "alice")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(t, err)
	state, err := alice.g.MarshalState()
	must(t, err)
	tests := []struct {
		name  string
		state []byte
	}{
		{"empty", nil},
		{"truncated", state[:len(state)-1]},
		{"trailing byte", append(bytes.Clone(state), 0)},
		{"other label", append([]byte{1, 'x'}, state[1+len(stateLabel):]...)},
	}
	for _, tt := range tests {
		if _, err := LoadGroup(Config{}, tt.state); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", tt.name, err)
		}
	}
}

// midConversationState returns the state of a member of a group of
// three in suite cs with out-of-order keys, a cached Update proposal
// (with its private key), a past epoch and resumption secrets.
func midConversationState(tb testing.TB, cs CipherSuite) []byte {
	alice, bob := newTestMemberTB(tb, cs, "alice"), newTestMemberTB(tb, cs, "bob")
	var err error
	alice.g, err = NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(tb, err)
	pc, err := alice.g.Commit(CommitParams{Add: []*KeyPackage{bob.kp}})
	must(tb, err)
	must(tb, alice.g.MergeCommit(pc))
	msg, err := ParseMLSMessage(pc.Welcome)
	must(tb, err)
	bob.g, err = Join(Config{}, JoinParams{Welcome: msg.Welcome, KeyPackage: bob.kp, Private: bob.priv, SignatureKey: bob.sig})
	must(tb, err)
	pc, err = bob.g.Commit(CommitParams{ForcePath: true})
	must(tb, err)
	must(tb, bob.g.MergeCommit(pc))
	_, err = alice.g.Process(pc.Commit)
	must(tb, err)
	_, err = bob.g.Encrypt([]byte("skipped"), nil)
	must(tb, err)
	m2, err := bob.g.Encrypt([]byte("received"), nil)
	must(tb, err)
	_, err = alice.g.Process(m2)
	must(tb, err)
	_, err = alice.g.ProposeUpdate()
	must(tb, err)
	state, err := alice.g.MarshalState()
	must(tb, err)
	return state
}

// FuzzLoadGroup feeds LoadGroup arbitrary bytes: it must never panic,
// and a state it accepts must marshal to a fixed point (load, marshal,
// load, marshal gives the same bytes). Seeds: a mid-conversation state
// per suite, plus the corpus in testdata/fuzz/FuzzLoadGroup.
func FuzzLoadGroup(f *testing.F) {
	for _, cs := range supportedSuites {
		f.Add(midConversationState(f, cs))
	}
	alice := newTestMemberTB(f, 1, "alice")
	g, err := NewGroup(Config{}, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(f, err)
	state, err := g.MarshalState()
	must(f, err)
	f.Add(state)
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := LoadGroup(Config{}, data)
		if err != nil {
			return
		}
		s1, err := g.MarshalState()
		if err != nil {
			t.Fatalf("loaded state does not marshal: %v", err)
		}
		g2, err := LoadGroup(Config{}, s1)
		if err != nil {
			t.Fatalf("marshalled state does not load: %v", err)
		}
		s2, err := g2.MarshalState()
		if err != nil || !bytes.Equal(s1, s2) {
			t.Fatalf("state is not a fixed point: %v", err)
		}
	})
}
