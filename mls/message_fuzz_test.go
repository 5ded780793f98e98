package mls

import (
	"bytes"
	"reflect"
	"testing"
)

// Fuzz targets for the decoders in message.go, transcript.go, framing.go,
// keyschedule.go and psk.go. Each checks that decoding never panics and
// that whatever decodes re-encodes to the same bytes (the encoding is
// canonical: minimal varints, 0/1 presence octets, no trailing bytes).
// Seeds come from messages.json plus testdata/fuzz/<target>/.

func addMessageSeeds(f *testing.F, pick func(tc *messagesCase) [][]byte) {
	for i, tc := range loadVectors[messagesCase](f, "messages.json") {
		if i >= 20 {
			break
		}
		for _, b := range pick(&tc) {
			f.Add([]byte(b))
		}
	}
}

func fuzzRoundTrip[T any](t *testing.T, data []byte, dec func(r *reader) T, enc func(v *T, w *writer)) {
	var v T
	if err := unmarshal(data, func(r *reader) { v = dec(r) }); err != nil {
		return
	}
	var w writer
	enc(&v, &w)
	out, err := w.Bytes()
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.Equal(out, data) {
		t.Fatalf("re-encoding differs:\n in %x\nout %x", data, out)
	}
}

func FuzzParseMLSMessage(f *testing.F) {
	addMessageSeeds(f, func(tc *messagesCase) [][]byte {
		return [][]byte{tc.MLSWelcome, tc.MLSGroupInfo, tc.MLSKeyPackage, tc.PublicMessageApplication,
			tc.PublicMessageProposal, tc.PublicMessageCommit, tc.PrivateMessage}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, decodeMLSMessage, (*MLSMessage).encode)
	})
}

func FuzzDecodeCommit(f *testing.F) {
	addMessageSeeds(f, func(tc *messagesCase) [][]byte { return [][]byte{tc.Commit} })
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, decodeCommit, (*Commit).encode)
	})
}

func FuzzDecodeGroupSecrets(f *testing.F) {
	addMessageSeeds(f, func(tc *messagesCase) [][]byte { return [][]byte{tc.GroupSecrets} })
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, decodeGroupSecrets, (*GroupSecrets).encode)
	})
}

func FuzzDecodeProposal(f *testing.F) {
	addMessageSeeds(f, func(tc *messagesCase) [][]byte {
		var out [][]byte
		for i, b := range [][]byte{tc.AddProposal, tc.UpdateProposal, tc.RemoveProposal, tc.PreSharedKeyProposal,
			tc.ReInitProposal, tc.ExternalInitProposal, tc.GroupContextExtensionsProposal} {
			out = append(out, append([]byte{0, byte(i + 1)}, b...))
		}
		return out
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, decodeProposal, (*Proposal).encode)
	})
}

func FuzzParseAuthenticatedContent(f *testing.F) {
	for _, tc := range loadVectors[transcriptCase](f, "transcript-hashes.json") {
		f.Add([]byte(tc.AuthenticatedContent))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, decodeAuthenticatedContent, (*AuthenticatedContent).encode)
	})
}

func FuzzParseGroupContext(f *testing.F) {
	for _, tc := range loadVectors[keyScheduleCase](f, "key-schedule.json") {
		f.Add([]byte(tc.Epochs[0].GroupContext))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, decodeGroupContext, (*GroupContext).encode)
	})
}

func FuzzDecodePreSharedKeyID(f *testing.F) {
	f.Add([]byte{1, 1, 'x', 1, 0})
	f.Add([]byte{2, 1, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, decodePreSharedKeyID, (*PreSharedKeyID).encode)
	})
}

// FuzzUnprotectPrivate feeds arbitrary PrivateMessages to a receiver:
// it must never panic, and a failure must leave the ratchets unchanged.
func FuzzUnprotectPrivate(f *testing.F) {
	send, _, priv := testFramers(f)
	ac, _ := send.sign(appContent("seed"), WireFormatPrivateMessage, priv)
	m, _ := send.protectPrivate(ac)
	wire, _ := (&MLSMessage{WireFormat: WireFormatPrivateMessage, PrivateMessage: m}).Marshal()
	f.Add(wire)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := ParseMLSMessage(data)
		if err != nil || msg.PrivateMessage == nil {
			return
		}
		_, recv, _ := testFramers(t)
		if _, err := recv.unprotectPrivate(msg.PrivateMessage, keyOf(priv)); err == nil {
			return
		}
		for _, r := range recv.tree.ratchets {
			if r[0].next != 0 || r[1].next != 0 {
				t.Fatal("failed unprotect advanced a ratchet")
			}
		}
	})
}

// FuzzGroupProcess feeds arbitrary messages to a member of a
// three-member group: no panic, and a rejected message leaves the
// group's epoch and keys as they were.
func FuzzGroupProcess(f *testing.F) {
	alice, bob := newTestMemberTB(f, 1, "alice"), newTestMemberTB(f, 1, "bob")
	carol := newTestMemberTB(f, 1, "carol")
	cfg := Config{PublicHandshake: true}
	var err error
	alice.g, err = NewGroup(cfg, []byte("g"), alice.kp, alice.priv, alice.sig, nil)
	must(f, err)
	pc, err := alice.g.Commit(CommitParams{Add: []*KeyPackage{bob.kp}})
	must(f, err)
	must(f, alice.g.MergeCommit(pc))
	f.Add(pc.Commit)
	f.Add(pc.Welcome)
	app, err := alice.g.Encrypt([]byte("hello"), []byte("ad"))
	must(f, err)
	f.Add(app)
	add, err := alice.g.Propose(&Proposal{Type: ProposalAdd, KeyPackage: carol.kp})
	must(f, err)
	f.Add(add)
	next, err := alice.g.Commit(CommitParams{})
	must(f, err)
	f.Add(next.Commit)
	welcome := pc.Welcome
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, _ := ParseMLSMessage(welcome)
		g, err := Join(cfg, JoinParams{Welcome: msg.Welcome, KeyPackage: bob.kp, Private: bob.priv, SignatureKey: bob.sig})
		must(t, err)
		before := g.EpochAuthenticator()
		if _, err := g.Process(data); err == nil {
			return
		}
		if g.Epoch() != 1 || !bytes.Equal(g.EpochAuthenticator(), before) || len(g.proposals) != 0 {
			t.Fatal("rejected message changed the group")
		}
	})
}

// FuzzDecrypt feeds arbitrary messages to Group.Decrypt, which decodes
// PrivateMessages with decodePrivateMLSMessage rather than
// decodeMLSMessage: no panic, the two decoders agree, and a rejected
// message consumes no key.
func FuzzDecrypt(f *testing.F) {
	a, _ := twoMembers(f, DefaultCipherSuite, Config{})
	for _, ad := range []string{"", "ad"} {
		w, err := a.Encrypt([]byte("hello"), []byte(ad))
		must(f, err)
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pm PrivateMessage
		r := reader{b: data, maxLen: DefaultMaxVectorLen, alias: true}
		if decodePrivateMLSMessage(&r, &pm) {
			err := r.Finish()
			m, perr := ParseMLSMessage(data)
			if (err == nil) != (perr == nil) {
				t.Fatalf("decoders disagree: %v and %v", err, perr)
			}
			if err == nil && !reflect.DeepEqual(*m.PrivateMessage, pm) {
				t.Fatalf("decoders disagree:\n%+v\n%+v", *m.PrivateMessage, pm)
			}
		}
		_, b := twoMembers(t, DefaultCipherSuite, Config{})
		if _, err := b.Decrypt(data); err == nil {
			return
		}
		for _, r := range b.framer.tree.ratchets {
			if r[0].next != 0 || r[1].next != 0 {
				t.Fatal("rejected message advanced a ratchet")
			}
		}
	})
}
