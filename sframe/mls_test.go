package sframe

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// exporterSecret stands in for MLS-Exporter(MLSExporterLabel, "", Nk) of
// one epoch.
func exporterSecret(s Suite, epoch uint64) []byte {
	b := make([]byte, s.KeySize())
	for i := range b {
		b[i] = byte(epoch*31 + uint64(i))
	}
	return b
}

// TestMLSKIDLayout reproduces the figure "An Example Sequence of KIDs for an
// MLS-based SFrame Session (E=4; S=6)" of RFC 9605 §5.2.
func TestMLSKIDLayout(t *testing.T) {
	m, err := NewMLSKeys(AES_128_GCM_SHA256_128, 0, MLSConfig{EpochBits: 4, Epochs: 4})
	if err != nil {
		t.Fatal(err)
	}
	for e := uint64(14); e <= 17; e++ {
		if err := m.AddEpoch(e, 64, exporterSecret(AES_128_GCM_SHA256_128, e)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		epoch   uint64
		index   uint32
		context uint64
		want    uint64
	}{
		{14, 3, 0, 0x3e}, {14, 7, 0, 0x7e}, {14, 20, 0, 0x14e},
		{15, 3, 0, 0x3f}, {15, 5, 0, 0x5f},
		{16, 2, 2, 0x820}, {16, 2, 3, 0xc20},
		{17, 33, 0, 0x211}, {17, 51, 0, 0x331},
	}
	for _, tc := range tests {
		if got, err := m.KID(tc.epoch, tc.index, tc.context); err != nil || got != tc.want {
			t.Errorf("KID(epoch %d, index %d, context %d) = %#x, %v; want %#x", tc.epoch, tc.index, tc.context, got, err, tc.want)
		}
	}
	if _, err := m.KID(13, 1, 0); !errors.Is(err, ErrEpoch) {
		t.Errorf("KID of an epoch not held: %v", err)
	}
	if _, err := m.KID(17, 64, 0); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("KID of index 64 in 64 leaves: %v", err)
	}
	if _, err := m.KID(17, 1, 1<<54); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("KID with a context wider than 54 bits: %v", err)
	}
}

// group is one MLSKeys per member, all in the same epochs.
type group []*MLSKeys

func newGroup(t *testing.T, s Suite, size uint32, cfg MLSConfig) group {
	t.Helper()
	g := make(group, size)
	for i := range g {
		m, err := NewMLSKeys(s, uint32(i), cfg)
		if err != nil {
			t.Fatal(err)
		}
		g[i] = m
	}
	return g
}

func (g group) addEpoch(t *testing.T, s Suite, epoch uint64) {
	t.Helper()
	for _, m := range g {
		if err := m.AddEpoch(epoch, uint32(len(g)), exporterSecret(s, epoch)); err != nil {
			t.Fatal(err)
		}
	}
}

// send makes member i send one frame in the newest epoch.
func (g group) send(t *testing.T, i int, context uint64, pt string) []byte {
	t.Helper()
	snd, err := g[i].NewSender(context)
	if err != nil {
		t.Fatal(err)
	}
	f, err := snd.Encrypt(nil, []byte("md"), []byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMLSRoundTripAllSuites(t *testing.T) {
	for _, s := range supportedSuites() {
		t.Run(s.String(), func(t *testing.T) {
			g := newGroup(t, s, 5, MLSConfig{})
			g.addEpoch(t, s, 7)
			for i := range g {
				f := g.send(t, i, uint64(i), fmt.Sprint("from ", i))
				for j, m := range g {
					pt, err := m.Decrypt(nil, []byte("md"), f)
					switch {
					case i == j && !errors.Is(err, ErrUnknownKID):
						t.Errorf("member %d decrypted its own frame: %v", i, err)
					case i != j && (err != nil || string(pt) != fmt.Sprint("from ", i)):
						t.Errorf("member %d from %d: %q, %v", j, i, pt, err)
					}
				}
			}
		})
	}
}

// TestMLSKeysMatchRFCDerivation checks that a sender's key is exactly
// derive_key_salt(KID, exporter output): a plain Receiver given the exporter
// output as base_key for that KID decrypts its frames.
func TestMLSKeysMatchRFCDerivation(t *testing.T) {
	for _, s := range supportedSuites() {
		g := newGroup(t, s, 3, MLSConfig{})
		g.addEpoch(t, s, 21)
		f := g.send(t, 2, 5, "hello")
		kid, _ := g[0].KID(21, 2, 5)
		if want := uint64(5<<(2+4) | 2<<4 | 21%16); kid != want {
			t.Fatalf("kid %#x, want %#x", kid, want)
		}
		r, _ := NewReceiver(s, Config{})
		if err := r.AddKey(kid, exporterSecret(s, 21)); err != nil {
			t.Fatal(err)
		}
		if pt, err := r.Decrypt(nil, []byte("md"), f); err != nil || string(pt) != "hello" {
			t.Fatalf("%v: plain receiver: %q, %v", s, pt, err)
		}
	}
}

func TestMLSEpochs(t *testing.T) {
	s := AES_128_GCM_SHA256_128
	g := newGroup(t, s, 2, MLSConfig{EpochBits: 2, Epochs: 2})
	g.addEpoch(t, s, 1)
	f1 := g.send(t, 1, 0, "epoch 1")
	g.addEpoch(t, s, 2)
	f2 := g.send(t, 1, 0, "epoch 2")
	if _, err := g[0].Decrypt(nil, []byte("md"), f1); err != nil {
		t.Fatalf("late frame of the previous epoch: %v", err)
	}
	g.addEpoch(t, s, 3) // keeps 2 and 3
	decryptMLSFails(t, g[0], f1, ErrUnknownKID)
	if _, err := g[0].Decrypt(nil, []byte("md"), f2); err != nil {
		t.Fatalf("frame of epoch 2 with epochs 2, 3 held: %v", err)
	}
	g.addEpoch(t, s, 6) // same low bits as 2: 2 must go (RFC 9605 §5.2)
	if got := g[0].Epochs(); fmt.Sprint(got) != "[3 6]" {
		t.Fatalf("epochs held = %v, want [3 6]", got)
	}
	decryptMLSFails(t, g[0], f2, ErrAuth) // KID now names epoch 6's key
	if err := g[0].AddEpoch(6, 2, exporterSecret(s, 6)); !errors.Is(err, ErrEpoch) {
		t.Fatalf("AddEpoch of a held epoch: %v", err)
	}
	if g[0].RemoveEpoch(2) || g[0].RemoveEpoch(10) || !g[0].RemoveEpoch(3) {
		t.Fatal("RemoveEpoch removed an epoch not held, or not one held")
	}
	if got := g[0].Epochs(); fmt.Sprint(got) != "[6]" {
		t.Fatalf("epochs held = %v, want [6]", got)
	}
}

func TestMLSBadInput(t *testing.T) {
	s := AES_128_CTR_HMAC_SHA256_64
	g := newGroup(t, s, 3, MLSConfig{})
	g.addEpoch(t, s, 1)
	f := g.send(t, 1, 0, "x")
	if _, err := g[0].Decrypt(nil, []byte("md"), f); err != nil {
		t.Fatal(err)
	}
	stranger := newGroup(t, s, 8, MLSConfig{})
	stranger.addEpoch(t, s, 1)
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"replay", f, ErrReplay},
		{"own index", g.send(t, 0, 0, "mine"), ErrUnknownKID},
		{"index beyond the group", stranger.send(t, 3, 0, "x"), ErrUnknownKID},
		{"epoch not held", Header{KID: 2}.Append(make([]byte, 0, 32)), ErrUnknownKID},
		{"forged frame of a new context", append(Header{KID: 1<<6 | 2<<4 | 1}.Append(nil), make([]byte, 20)...), ErrAuth},
		{"truncated header", []byte{0x90}, ErrTruncatedHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { decryptMLSFails(t, g[0], tc.frame, tc.want) })
	}
	if err := g[0].AddEpoch(2, 3, make([]byte, 5)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short exporter secret: %v", err)
	}
	if err := g[2].AddEpoch(2, 2, exporterSecret(s, 2)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("own index outside the group: %v", err)
	}
	for _, cfg := range []MLSConfig{{EpochBits: -1}, {EpochBits: 17}, {EpochBits: 1, Epochs: 3}, {Epochs: -1}, {Receiver: Config{ReplayWindow: -1}}} {
		if _, err := NewMLSKeys(s, 0, cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewMLSKeys(%+v): %v", cfg, err)
		}
	}
	if _, err := g[1].NewSender(0); !errors.Is(err, ErrSenderExists) {
		t.Errorf("second sender for epoch 1, context 0: %v", err)
	}
	if _, err := newGroup(t, s, 1, MLSConfig{})[0].NewSender(0); !errors.Is(err, ErrEpoch) {
		t.Errorf("NewSender before any epoch: %v", err)
	}
}

// decryptMLSFails checks that frame fails with want and leaves m unchanged.
func decryptMLSFails(t *testing.T, m *MLSKeys, frame []byte, want error) {
	t.Helper()
	before := mlsState(m)
	if _, err := m.Decrypt(nil, []byte("md"), frame); !errors.Is(err, want) {
		t.Fatalf("Decrypt err = %v, want %v", err, want)
	}
	if after := mlsState(m); after != before {
		t.Fatalf("failed Decrypt changed state:\n%s\n%s", before, after)
	}
}

func mlsState(m *MLSKeys) string {
	var b bytes.Buffer
	for _, ep := range m.epochs {
		fmt.Fprintf(&b, "epoch %d: %s\n", ep.epoch, receiverState(ep.recv))
	}
	return b.String()
}

// TestMLSContextsPerSender: a receiver keeps keys for at most
// ContextsPerSender contexts of each sender in an epoch; a frame of one
// more fails with ErrUnknownKID and changes nothing, while the contexts
// already kept and other senders still decrypt.
func TestMLSContextsPerSender(t *testing.T) {
	s := supportedSuites()[0]
	g := newGroup(t, s, 3, MLSConfig{ContextsPerSender: 4})
	g.addEpoch(t, s, 1)
	frame := func(snd *Sender, pt string) []byte {
		t.Helper()
		f, err := snd.Encrypt(nil, []byte("md"), []byte(pt))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	var senders []*Sender
	for c := range uint64(5) {
		snd, err := g[1].NewSender(c)
		if err != nil {
			t.Fatal(err)
		}
		senders = append(senders, snd)
	}
	for c, snd := range senders[:4] {
		if _, err := g[0].Decrypt(nil, []byte("md"), frame(snd, "first")); err != nil {
			t.Fatalf("context %d: %v", c, err)
		}
	}
	over := frame(senders[4], "one context too many")
	for range 2 {
		if _, err := g[0].Decrypt(nil, []byte("md"), over); !errors.Is(err, ErrUnknownKID) {
			t.Fatalf("fifth context: %v, want ErrUnknownKID", err)
		}
	}
	if pt, err := g[0].Decrypt(nil, []byte("md"), frame(senders[0], "again")); err != nil || string(pt) != "again" {
		t.Fatalf("a kept context after the refusal: %q, %v", pt, err)
	}
	if _, err := g[0].Decrypt(nil, []byte("md"), g.send(t, 2, 0, "another sender")); err != nil {
		t.Fatalf("another sender: %v", err)
	}
	if _, err := NewMLSKeys(s, 0, MLSConfig{ContextsPerSender: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ContextsPerSender -1: %v, want ErrInvalidConfig", err)
	}
}
