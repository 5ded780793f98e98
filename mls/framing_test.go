package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

type messageProtectionCase struct {
	suiteField
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	TreeHash                hexBytes `json:"tree_hash"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	SignaturePriv           hexBytes `json:"signature_priv"`
	SignaturePub            hexBytes `json:"signature_pub"`
	EncryptionSecret        hexBytes `json:"encryption_secret"`
	SenderDataSecret        hexBytes `json:"sender_data_secret"`
	MembershipKey           hexBytes `json:"membership_key"`
	Proposal                hexBytes `json:"proposal"`
	ProposalPub             hexBytes `json:"proposal_pub"`
	ProposalPriv            hexBytes `json:"proposal_priv"`
	Commit                  hexBytes `json:"commit"`
	CommitPub               hexBytes `json:"commit_pub"`
	CommitPriv              hexBytes `json:"commit_priv"`
	Application             hexBytes `json:"application"`
	ApplicationPriv         hexBytes `json:"application_priv"`
}

// framer returns a framer for the vector's epoch with a fresh 2-leaf
// secret tree.
func (tc *messageProtectionCase) framer(t *testing.T, s *suite) *framer {
	tree, err := newSecretTree(s, secret(tc.EncryptionSecret), 2, 0, 0)
	must(t, err)
	return &framer{
		s: s, tree: tree, rand: rand.Reader, paddingBlock: 32,
		gc: &GroupContext{
			Version: ProtocolVersionMLS10, CipherSuite: s.id, GroupID: tc.GroupID, Epoch: tc.Epoch,
			TreeHash: tc.TreeHash, ConfirmedTranscriptHash: tc.ConfirmedTranscriptHash,
		},
		membershipKey: secret(tc.MembershipKey), senderDataSecret: secret(tc.SenderDataSecret),
	}
}

func (tc *messageProtectionCase) signer(t *testing.T) signerKey {
	return func(c *FramedContent) (SignaturePublicKey, error) {
		if c.Sender != (Sender{Type: SenderMember, Index: 1}) {
			t.Errorf("sender %+v, want member 1", c.Sender)
			return nil, ErrUnknownSender
		}
		return SignaturePublicKey(tc.SignaturePub), nil
	}
}

func TestMessageProtectionVectors(t *testing.T) {
	runVectors(t, "message-protection.json", func(t *testing.T, s *suite, tc *messageProtectionCase) {
		priv, err := s.id.NewSignaturePrivateKey(tc.SignaturePriv)
		must(t, err)
		checkHex(t, "signature_pub", priv.PublicKey(), tc.SignaturePub)
		kinds := []struct {
			ct        ContentType
			raw, pub  []byte
			priv      []byte
			bodyBytes func(c *FramedContent) ([]byte, error)
		}{
			{ContentProposal, tc.Proposal, tc.ProposalPub, tc.ProposalPriv, func(c *FramedContent) ([]byte, error) { return marshal(c.Proposal) }},
			{ContentCommit, tc.Commit, tc.CommitPub, tc.CommitPriv, func(c *FramedContent) ([]byte, error) { return marshal(c.Commit) }},
			{ContentApplication, tc.Application, nil, tc.ApplicationPriv, func(c *FramedContent) ([]byte, error) { return c.ApplicationData, nil }},
		}
		for _, k := range kinds {
			body := func(c *FramedContent) []byte {
				b, err := k.bodyBytes(c)
				must(t, err)
				return b
			}
			if k.pub != nil {
				ac := checkPublic(t, tc.framer(t, s), k.pub, tc.signer(t))
				checkHex(t, "public message content", body(&ac.Content), k.raw)
			}
			ac := checkPrivate(t, tc.framer(t, s), k.priv, tc.signer(t))
			checkHex(t, "private message content", body(&ac.Content), k.raw)
			content := rawContent(t, tc, k.ct, k.raw)
			protectRoundTrip(t, tc, s, priv, content, ac.Auth.ConfirmationTag)
		}
	})
}

func checkPublic(t *testing.T, f *framer, wire []byte, key signerKey) *AuthenticatedContent {
	t.Helper()
	m, err := ParseMLSMessage(wire)
	must(t, err)
	reencoded, err := m.Marshal()
	must(t, err)
	checkHex(t, "public message round trip", reencoded, wire)
	if m.PublicMessage == nil {
		t.Fatalf("wire format %d, want public message", m.WireFormat)
	}
	ac, err := f.unprotectPublic(m.PublicMessage, key)
	must(t, err)
	return ac
}

func checkPrivate(t *testing.T, f *framer, wire []byte, key signerKey) *AuthenticatedContent {
	t.Helper()
	m, err := ParseMLSMessage(wire)
	must(t, err)
	reencoded, err := m.Marshal()
	must(t, err)
	checkHex(t, "private message round trip", reencoded, wire)
	if m.PrivateMessage == nil {
		t.Fatalf("wire format %d, want private message", m.WireFormat)
	}
	ac, err := f.unprotectPrivate(m.PrivateMessage, key)
	must(t, err)
	return ac
}

// rawContent frames the vector's raw proposal, commit or application
// data as sent by member 1.
func rawContent(t *testing.T, tc *messageProtectionCase, ct ContentType, raw []byte) FramedContent {
	c := FramedContent{GroupID: tc.GroupID, Epoch: tc.Epoch, Sender: Sender{Type: SenderMember, Index: 1}, ContentType: ct}
	var err error
	switch ct {
	case ContentProposal:
		err = unmarshal(raw, func(r *reader) { c.Proposal = ptr(decodeProposal(r)) })
	case ContentCommit:
		err = unmarshal(raw, func(r *reader) { c.Commit = ptr(decodeCommit(r)) })
	default:
		c.ApplicationData = raw
	}
	must(t, err)
	return c
}

// protectRoundTrip protects content as public (refused for application
// data) and private messages and unprotects them with fresh state.
func protectRoundTrip(t *testing.T, tc *messageProtectionCase, s *suite, priv *SignaturePrivateKey, c FramedContent, tag []byte) {
	t.Helper()
	f := tc.framer(t, s)
	ac, err := f.sign(c, WireFormatPublicMessage, priv)
	must(t, err)
	ac.Auth.ConfirmationTag = tag
	pm, err := f.protectPublic(ac)
	if c.ContentType == ContentApplication {
		if !errors.Is(err, ErrInvalidContent) {
			t.Errorf("application as public message: got %v, want ErrInvalidContent", err)
		}
	} else {
		must(t, err)
		wire, err := (&MLSMessage{WireFormat: WireFormatPublicMessage, PublicMessage: pm}).Marshal()
		must(t, err)
		checkPublic(t, tc.framer(t, s), wire, tc.signer(t))
	}
	ac, err = f.sign(c, WireFormatPrivateMessage, priv)
	must(t, err)
	ac.Auth.ConfirmationTag = tag
	m, err := f.protectPrivate(ac)
	must(t, err)
	wire, err := (&MLSMessage{WireFormat: WireFormatPrivateMessage, PrivateMessage: m}).Marshal()
	must(t, err)
	got := checkPrivate(t, tc.framer(t, s), wire, tc.signer(t))
	a, _ := got.Marshal()
	b, _ := ac.Marshal()
	if !bytes.Equal(a, b) {
		t.Error("private round trip changed the content")
	}
}

// testFramers returns a sending and a receiving framer for one epoch of
// a two-member group, and member 1's signing key.
func testFramers(t testing.TB) (send, recv *framer, priv *SignaturePrivateKey) {
	s, err := DefaultCipherSuite.suite()
	must(t, err)
	mk := func() *framer {
		tree, err := newSecretTree(s, bytes.Repeat([]byte{1}, 32), 2, 0, 0)
		must(t, err)
		return &framer{
			s: s, tree: tree, rand: rand.Reader,
			gc:            &GroupContext{Version: 1, CipherSuite: 1, GroupID: []byte("g"), Epoch: 3},
			membershipKey: bytes.Repeat([]byte{2}, 32), senderDataSecret: bytes.Repeat([]byte{3}, 32),
		}
	}
	priv, err = DefaultCipherSuite.GenerateSignatureKey(rand.Reader)
	must(t, err)
	return mk(), mk(), priv
}

func keyOf(priv *SignaturePrivateKey) signerKey {
	return func(c *FramedContent) (SignaturePublicKey, error) {
		if c.Sender.Type != SenderMember || c.Sender.Index != 1 {
			return nil, ErrUnknownSender
		}
		return priv.PublicKey(), nil
	}
}

func appContent(data string) FramedContent {
	return FramedContent{GroupID: []byte("g"), Epoch: 3, Sender: Sender{Type: SenderMember, Index: 1},
		ContentType: ContentApplication, ApplicationData: []byte(data)}
}

func TestPrivateMessageRejects(t *testing.T) {
	send, recv, priv := testFramers(t)
	ac, err := send.sign(appContent("hi"), WireFormatPrivateMessage, priv)
	must(t, err)
	m, err := send.protectPrivate(ac)
	must(t, err)
	other, _ := DefaultCipherSuite.GenerateSignatureKey(rand.Reader)

	tamper := func(edit func(m *PrivateMessage)) *PrivateMessage {
		c := *m
		c.Ciphertext, c.EncryptedSenderData = bytes.Clone(m.Ciphertext), bytes.Clone(m.EncryptedSenderData)
		edit(&c)
		return &c
	}
	tests := []struct {
		name string
		m    *PrivateMessage
		key  signerKey
		want error
	}{
		{"wrong epoch", tamper(func(m *PrivateMessage) { m.Epoch = 4 }), keyOf(priv), ErrWrongEpoch},
		{"wrong group", tamper(func(m *PrivateMessage) { m.GroupID = []byte("h") }), keyOf(priv), ErrWrongGroup},
		{"ciphertext flipped", tamper(func(m *PrivateMessage) { m.Ciphertext[len(m.Ciphertext)-1] ^= 1 }), keyOf(priv), ErrDecrypt},
		{"sender data flipped", tamper(func(m *PrivateMessage) { m.EncryptedSenderData[0] ^= 1 }), keyOf(priv), ErrDecrypt},
		{"authenticated data changed", tamper(func(m *PrivateMessage) { m.AuthenticatedData = []byte("x") }), keyOf(priv), ErrDecrypt},
		{"other signer", m, keyOf(other), ErrBadSignature},
	}
	for _, tt := range tests {
		if _, err := recv.unprotectPrivate(tt.m, tt.key); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	// None of the failures consumed the generation.
	got, err := recv.unprotectPrivate(m, keyOf(priv))
	must(t, err)
	if string(got.Content.ApplicationData) != "hi" {
		t.Fatalf("got %q", got.Content.ApplicationData)
	}
	if _, err := recv.unprotectPrivate(m, keyOf(priv)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: got %v, want ErrReplay", err)
	}
}

func TestPrivateMessagePadding(t *testing.T) {
	send, recv, priv := testFramers(t)
	send.paddingBlock = 64
	ac, err := send.sign(appContent("padded"), WireFormatPrivateMessage, priv)
	must(t, err)
	m, err := send.protectPrivate(ac)
	must(t, err)
	if n := len(m.Ciphertext) - 16; n%64 != 0 {
		t.Fatalf("plaintext length %d not a multiple of 64", n)
	}
	_, err = recv.unprotectPrivate(m, keyOf(priv))
	must(t, err)

	ac2 := &AuthenticatedContent{Content: appContent("x")}
	if err := decodePrivateContent(append([]byte{1, 'x', 1, 0, 0, 1}, 0), ac2); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-zero padding: got %v, want ErrMalformed", err)
	}
}

func TestPublicMessageRejects(t *testing.T) {
	send, recv, priv := testFramers(t)
	c := FramedContent{GroupID: []byte("g"), Epoch: 3, Sender: Sender{Type: SenderMember, Index: 1},
		ContentType: ContentProposal, Proposal: &Proposal{Type: ProposalRemove, Removed: 0}}
	ac, err := send.sign(c, WireFormatPublicMessage, priv)
	must(t, err)
	pm, err := send.protectPublic(ac)
	must(t, err)
	_, err = recv.unprotectPublic(pm, keyOf(priv))
	must(t, err)

	bad := *pm
	bad.MembershipTag = bytes.Clone(pm.MembershipTag)
	bad.MembershipTag[0] ^= 1
	if _, err := recv.unprotectPublic(&bad, keyOf(priv)); !errors.Is(err, ErrBadMembershipTag) {
		t.Errorf("bad tag: got %v", err)
	}
	recv.membershipKey = bytes.Repeat([]byte{9}, 32)
	if _, err := recv.unprotectPublic(pm, keyOf(priv)); !errors.Is(err, ErrBadMembershipTag) {
		t.Errorf("non-member key: got %v", err)
	}
	app := *pm
	app.Content = appContent("x")
	if _, err := recv.unprotectPublic(&app, keyOf(priv)); !errors.Is(err, ErrInvalidContent) {
		t.Errorf("application: got %v", err)
	}
}

// protectPrivate is sealPrivate returning the PrivateMessage, for tests
// that take messages apart.
func (f *framer) protectPrivate(ac *AuthenticatedContent) (*PrivateMessage, error) {
	wire, err := f.sealPrivate(ac)
	if err != nil {
		return nil, err
	}
	m, err := ParseMLSMessage(wire)
	if err != nil {
		return nil, err
	}
	return m.PrivateMessage, nil
}
