package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// End-to-end tests with no vectors: real groups of real members whose
// messages go through an in-memory Delivery Service, a single ordered
// log. Every member processes the log in order from its own cursor, so
// a member that is offline simply stops reading and catches up later.

// supportedSuites are every suite this package implements, the hybrid
// post-quantum one included.
var supportedSuites = []CipherSuite{1, 2, 3, 5, 7, 0x004D}

// e2eEntry is one message in the Delivery Service's log.
type e2eEntry struct {
	from *e2eMember
	wire []byte
	text string // plaintext of an application message
}

type e2eMember struct {
	*member
	cursor int  // next log entry to process
	online bool // processes the log as it grows
}

// e2eGroup drives one group: its log, its members and the epoch
// authenticator every member must reach at each epoch.
type e2eGroup struct {
	t       *testing.T
	cs      CipherSuite
	cfg     Config
	log     []e2eEntry
	members []*e2eMember // current members, online or not
	auth    map[uint64][]byte
	names   int
}

func newE2EGroup(t *testing.T, cs CipherSuite, cfg Config) *e2eGroup {
	e := &e2eGroup{t: t, cs: cs, cfg: cfg, auth: map[uint64][]byte{}}
	creator := e.newMember()
	var err error
	creator.g, err = NewGroup(cfg, []byte("e2e"), creator.kp, creator.priv, creator.sig, nil)
	must(t, err)
	e.members = []*e2eMember{creator}
	e.auth[0] = creator.g.EpochAuthenticator()
	return e
}

func (e *e2eGroup) newMember() *e2eMember {
	e.names++
	return &e2eMember{member: newTestMember(e.t, e.cs, fmt.Sprintf("m%d", e.names)), online: true}
}

// checkEpoch fails unless m's epoch authenticator is the one the
// committer of its epoch reached.
func (e *e2eGroup) checkEpoch(m *e2eMember) {
	e.t.Helper()
	want, ok := e.auth[m.g.Epoch()]
	if !ok || !bytes.Equal(m.g.EpochAuthenticator(), want) {
		e.t.Fatalf("%s: epoch %d authenticator disagrees", m.name, m.g.Epoch())
	}
}

// sync has m process the log entries it has not seen yet, in order.
func (e *e2eGroup) sync(m *e2eMember) {
	e.t.Helper()
	for ; m.cursor < len(e.log); m.cursor++ {
		ent := e.log[m.cursor]
		if ent.from == m {
			continue
		}
		rcv, err := m.g.Process(ent.wire)
		if err != nil {
			e.t.Fatalf("%s processing entry %d from %s: %v", m.name, m.cursor, ent.from.name, err)
		}
		switch {
		case rcv.Application != nil && string(rcv.Application.Data) != ent.text:
			e.t.Fatalf("%s: got %q, want %q", m.name, rcv.Application.Data, ent.text)
		case rcv.Commit != nil && rcv.Commit.RemovedSelf:
			m.cursor = len(e.log)
			return
		case rcv.Commit != nil:
			e.checkEpoch(m)
		}
	}
}

// post appends a message to the log and delivers it to online members.
func (e *e2eGroup) post(ent e2eEntry) {
	e.t.Helper()
	e.log = append(e.log, ent)
	ent.from.cursor = len(e.log)
	for _, m := range e.members {
		if m.online {
			e.sync(m)
		}
	}
}

// say has from send an application message to everyone.
func (e *e2eGroup) say(from *e2eMember) {
	e.t.Helper()
	text := fmt.Sprintf("%s at epoch %d", from.name, from.g.Epoch())
	wire, err := from.g.Encrypt([]byte(text), []byte("ad"))
	must(e.t, err)
	e.post(e2eEntry{from: from, wire: wire, text: text})
}

// online returns the i-th online member, counting cyclically.
func (e *e2eGroup) online(i int) *e2eMember {
	var on []*e2eMember
	for _, m := range e.members {
		if m.online {
			on = append(on, m)
		}
	}
	return on[i%len(on)]
}

func (e *e2eGroup) indexOf(l LeafIndex) int {
	for i, m := range e.members {
		if m.g.LeafIndex() == l {
			return i
		}
	}
	e.t.Fatalf("no member at leaf %d", l)
	return -1
}

// commit has committer commit params plus cached proposals, delivers it,
// joins the new members by the Welcome and drops the removed ones. It
// checks that every online member reached the same epoch authenticator.
func (e *e2eGroup) commit(committer *e2eMember, params CommitParams, joiners ...*e2eMember) {
	e.t.Helper()
	for _, j := range joiners {
		params.Add = append(params.Add, j.kp)
	}
	pc, err := committer.g.Commit(params)
	must(e.t, err)
	must(e.t, committer.g.MergeCommit(pc))
	e.auth[committer.g.Epoch()] = committer.g.EpochAuthenticator()
	var removed []*e2eMember
	for _, l := range pc.Info.Removed {
		removed = append(removed, e.members[e.indexOf(l)])
	}
	e.post(e2eEntry{from: committer, wire: pc.Commit})
	for _, r := range removed {
		if r.online {
			if _, err := r.g.Encrypt([]byte("x"), nil); !errors.Is(err, ErrRemoved) {
				e.t.Fatalf("%s removed but can still send: %v", r.name, err)
			}
		}
		e.members = append(e.members[:e.indexOf(r.g.LeafIndex())], e.members[e.indexOf(r.g.LeafIndex())+1:]...)
	}
	for _, j := range joiners {
		j.join(e.t, e.cfg, pc.Welcome)
		j.cursor = len(e.log)
		e.checkEpoch(j)
		e.members = append(e.members, j)
	}
	if len(joiners) != len(pc.Info.Added) {
		e.t.Fatalf("%d joiners, %d added", len(joiners), len(pc.Info.Added))
	}
	for _, m := range e.members {
		if m.online && m.g.Epoch() != committer.g.Epoch() {
			e.t.Fatalf("%s at epoch %d, committer at %d", m.name, m.g.Epoch(), committer.g.Epoch())
		}
	}
}

// grow adds members in batches of up to batch per Commit, with the
// committer rotating among online members, until the group has n.
func (e *e2eGroup) grow(n, batch int) {
	e.t.Helper()
	for i := 0; len(e.members) < n; i++ {
		var joiners []*e2eMember
		for range min(batch, n-len(e.members)) {
			joiners = append(joiners, e.newMember())
		}
		e.commit(e.online(i), CommitParams{}, joiners...)
		reload(e.t, e.online(i+2).member, e.cfg) // state survives mid-conversation
		e.say(e.online(i + 1))
		e.say(e.online(i + 2))
	}
}

// TestGroupEndToEnd runs, for every supported suite, a group of 3 that
// grows to 100 by Adds (see e2eSize under -race); members update and remove each other; one
// member is offline for several epochs and catches up by processing the
// commits it missed in order, another is removed while offline and
// catches up through a Welcome; application messages flow both ways;
// every member reaches the same epoch authenticator at every epoch.
func TestGroupEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		cs  CipherSuite
		cfg Config
	}{
		{1, Config{PaddingBlock: 32}}, {2, Config{PublicHandshake: true}}, {3, Config{}},
		{5, Config{}}, {7, Config{PublicHandshake: true}}, {0x004D, Config{PaddingBlock: 64}},
	} {
		t.Run(tc.cs.String(), func(t *testing.T) {
			t.Parallel()
			runEndToEnd(t, tc.cs, tc.cfg)
		})
	}
}

// e2eSize is the size the end-to-end group grows to. Signature checks
// dominate its cost: each joiner verifies every leaf and each member
// every added key package, about n² verifications in all. The pure-Go
// P-384 and P-521 code is 30 to 80 times slower than Ed25519 and much
// slower again under the race detector, so there, and only there,
// suites 5 and 7 grow to 12 members instead; .ci/run also runs this test
// without -race, where every suite grows to 100.
func e2eSize(cs CipherSuite) int {
	if raceEnabled && (cs == 5 || cs == 7) {
		return 12
	}
	return 100
}

func runEndToEnd(t *testing.T, cs CipherSuite, cfg Config) {
	e := newE2EGroup(t, cs, cfg)
	alice := e.members[0]
	bob, carol := e.newMember(), e.newMember()
	e.commit(alice, CommitParams{}, bob, carol)
	e.say(alice)
	e.say(bob)

	// Carol goes offline for everything up to the removals below.
	carol.online = false
	size := e2eSize(cs)
	e.grow(size, size/4)
	if len(e.members) != size {
		t.Fatalf("%d members", len(e.members))
	}

	// Three members propose updates; another commits them by reference.
	for i := 1; i <= 3; i++ {
		wire, err := e.online(i).g.ProposeUpdate()
		must(t, err)
		e.post(e2eEntry{from: e.online(i), wire: wire})
	}
	e.commit(e.online(4), CommitParams{})
	e.commit(e.online(5), CommitParams{ForcePath: true}) // an empty commit refreshes the path
	e.say(e.online(6))

	// Members remove each other; dave is removed while offline.
	dave := e.online(3)
	dave.online = false
	victims := []LeafIndex{e.online(5).g.LeafIndex(), e.online(6).g.LeafIndex(), dave.g.LeafIndex()}
	e.commit(e.online(4), CommitParams{Remove: victims})
	e.commit(e.online(7), CommitParams{Remove: []LeafIndex{e.online(8).g.LeafIndex()}})
	e.say(e.online(9))

	// Carol catches up by processing every commit she missed, in order.
	if gap := e.online(0).g.Epoch() - carol.g.Epoch(); gap < 5 {
		t.Fatalf("carol missed only %d epochs", gap)
	}
	carol.online = true
	e.sync(carol)
	e.checkEpoch(carol)

	// Dave comes back with a fresh key package and joins by Welcome.
	dave2 := e.newMember()
	e.commit(carol, CommitParams{}, dave2)
	e.say(dave2)
	e.say(carol)
	e.commit(dave2, CommitParams{ForcePath: true})
	e.say(e.online(11))
	for _, m := range e.members {
		if m.cursor != len(e.log) {
			t.Fatalf("%s did not read the whole log", m.name)
		}
		e.checkEpoch(m)
	}
}
