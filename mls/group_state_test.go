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

func TestGroupStateRoundTrip(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 5, 0x004D} {
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

func FuzzLoadGroup(f *testing.F) {
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
		if _, err := g.MarshalState(); err != nil {
			t.Fatalf("loaded state does not marshal: %v", err)
		}
	})
}
