package mls

import (
	"bytes"
	"errors"
	"testing"
)

type keyScheduleCase struct {
	suiteField
	GroupID           hexBytes             `json:"group_id"`
	InitialInitSecret hexBytes             `json:"initial_init_secret"`
	Epochs            []keyScheduleEpochTC `json:"epochs"`
}

type keyScheduleEpochTC struct {
	TreeHash                hexBytes `json:"tree_hash"`
	CommitSecret            hexBytes `json:"commit_secret"`
	PSKSecret               hexBytes `json:"psk_secret"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	GroupContext            hexBytes `json:"group_context"`
	JoinerSecret            hexBytes `json:"joiner_secret"`
	WelcomeSecret           hexBytes `json:"welcome_secret"`
	InitSecret              hexBytes `json:"init_secret"`
	SenderDataSecret        hexBytes `json:"sender_data_secret"`
	EncryptionSecret        hexBytes `json:"encryption_secret"`
	ExporterSecret          hexBytes `json:"exporter_secret"`
	EpochAuthenticator      hexBytes `json:"epoch_authenticator"`
	ExternalSecret          hexBytes `json:"external_secret"`
	ConfirmationKey         hexBytes `json:"confirmation_key"`
	MembershipKey           hexBytes `json:"membership_key"`
	ResumptionPSK           hexBytes `json:"resumption_psk"`
	ExternalPub             hexBytes `json:"external_pub"`
	Exporter                struct {
		Label   string   `json:"label"`
		Context hexBytes `json:"context"`
		Length  int      `json:"length"`
		Secret  hexBytes `json:"secret"`
	} `json:"exporter"`
}

func TestKeyScheduleVectors(t *testing.T) {
	runVectors(t, "key-schedule.json", func(t *testing.T, s *suite, tc *keyScheduleCase) {
		initSecret := secret(tc.InitialInitSecret)
		for i, ep := range tc.Epochs {
			gc := GroupContext{
				Version: ProtocolVersionMLS10, CipherSuite: s.id, GroupID: tc.GroupID,
				Epoch: uint64(i), TreeHash: ep.TreeHash, ConfirmedTranscriptHash: ep.ConfirmedTranscriptHash,
			}
			gcBytes, err := gc.Marshal()
			must(t, err)
			checkHex(t, "group_context", gcBytes, ep.GroupContext)
			e, err := s.deriveEpoch(initSecret, secret(ep.CommitSecret), secret(ep.PSKSecret), gcBytes)
			must(t, err)
			for _, c := range []struct {
				name      string
				got, want []byte
			}{
				{"joiner_secret", e.joiner, ep.JoinerSecret}, {"welcome_secret", e.welcome, ep.WelcomeSecret},
				{"init_secret", e.init, ep.InitSecret}, {"sender_data_secret", e.senderData, ep.SenderDataSecret},
				{"encryption_secret", e.encryption, ep.EncryptionSecret}, {"exporter_secret", e.exporter, ep.ExporterSecret},
				{"epoch_authenticator", e.authenticator, ep.EpochAuthenticator}, {"external_secret", e.external, ep.ExternalSecret},
				{"confirmation_key", e.confirmation, ep.ConfirmationKey}, {"membership_key", e.membership, ep.MembershipKey},
				{"resumption_psk", e.resumption, ep.ResumptionPSK},
			} {
				checkHex(t, c.name, c.got, c.want)
			}
			ext, err := s.externalKeyPair(e.external)
			must(t, err)
			checkHex(t, "external_pub", ext.PublicKey(), ep.ExternalPub)
			out, err := s.export(e.exporter, ep.Exporter.Label, ep.Exporter.Context, ep.Exporter.Length)
			must(t, err)
			checkHex(t, "exporter.secret", out, ep.Exporter.Secret)
			initSecret = e.init
		}
	})
}

func TestGroupContextRoundTrip(t *testing.T) {
	gc := GroupContext{
		Version: ProtocolVersionMLS10, CipherSuite: 1, GroupID: []byte("g"), Epoch: 7,
		TreeHash: []byte{1, 2}, ConfirmedTranscriptHash: []byte{3},
		Extensions: []Extension{{Type: 0xff00, Data: []byte("x")}},
	}
	b, err := gc.Marshal()
	must(t, err)
	got, err := ParseGroupContext(b)
	must(t, err)
	b2, err := got.Marshal()
	must(t, err)
	if !bytes.Equal(b, b2) || got.Epoch != 7 {
		t.Fatalf("round trip: %x != %x", b, b2)
	}
	bad := append([]byte{0, 2}, b[2:]...) // version 2
	if _, err := ParseGroupContext(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 2: got %v, want ErrMalformed", err)
	}
	if _, err := ParseGroupContext(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: got %v, want ErrMalformed", err)
	}
}

func TestSecretRedacted(t *testing.T) {
	s := secret{1, 2, 3}
	for _, f := range []string{"%v", "%x", "%#v", "%s"} {
		if got := sprintf(f, s); got != "mls.secret(redacted)" {
			t.Errorf("%s: %q", f, got)
		}
	}
	if !s.equal(secret{1, 2, 3}) || s.equal(secret{1, 2, 4}) {
		t.Error("equal")
	}
}

func TestExternalInit(t *testing.T) {
	for _, cs := range []CipherSuite{1, 2, 3, 5, 7, 0x004D} {
		s, err := cs.suite()
		must(t, err)
		external := secret(bytes.Repeat([]byte{4}, s.hashLen()))
		pub, err := s.externalKeyPair(external)
		must(t, err)
		kem, joinerInit, err := s.externalInit(pub.PublicKey())
		must(t, err)
		memberInit, err := s.externalInitSecret(external, kem)
		must(t, err)
		if len(joinerInit) != s.hashLen() || !joinerInit.equal(memberInit) {
			t.Errorf("suite %v: init secrets differ", cs)
		}
		if _, err := s.externalInitSecret(external, kem[:len(kem)-1]); !errors.Is(err, ErrDecrypt) {
			t.Errorf("suite %v: short kem output: got %v", cs, err)
		}
	}
}
