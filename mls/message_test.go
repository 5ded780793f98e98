package mls

import (
	"errors"
	"testing"
)

type messagesCase struct {
	MLSWelcome                     hexBytes `json:"mls_welcome"`
	MLSGroupInfo                   hexBytes `json:"mls_group_info"`
	MLSKeyPackage                  hexBytes `json:"mls_key_package"`
	RatchetTree                    hexBytes `json:"ratchet_tree"`
	GroupSecrets                   hexBytes `json:"group_secrets"`
	AddProposal                    hexBytes `json:"add_proposal"`
	UpdateProposal                 hexBytes `json:"update_proposal"`
	RemoveProposal                 hexBytes `json:"remove_proposal"`
	PreSharedKeyProposal           hexBytes `json:"pre_shared_key_proposal"`
	ReInitProposal                 hexBytes `json:"re_init_proposal"`
	ExternalInitProposal           hexBytes `json:"external_init_proposal"`
	GroupContextExtensionsProposal hexBytes `json:"group_context_extensions_proposal"`
	Commit                         hexBytes `json:"commit"`
	PublicMessageApplication       hexBytes `json:"public_message_application"`
	PublicMessageProposal          hexBytes `json:"public_message_proposal"`
	PublicMessageCommit            hexBytes `json:"public_message_commit"`
	PrivateMessage                 hexBytes `json:"private_message"`
}

// roundTrip decodes wire with dec, requiring every byte consumed, and
// checks that enc re-encodes it exactly.
func roundTrip[T any](t *testing.T, name string, wire []byte, dec func(r *reader) T, enc func(v *T, w *writer)) *T {
	t.Helper()
	var v T
	if err := unmarshal(wire, func(r *reader) { v = dec(r) }); err != nil {
		t.Errorf("%s: decode: %v", name, err)
		return nil
	}
	var w writer
	enc(&v, &w)
	out, err := w.Bytes()
	if err != nil {
		t.Errorf("%s: encode: %v", name, err)
		return nil
	}
	checkHex(t, name, out, wire)
	return &v
}

func proposalBody(typ ProposalType) (func(r *reader) Proposal, func(p *Proposal, w *writer)) {
	dec := func(r *reader) Proposal {
		var w writer
		w.Uint16(uint16(typ))
		r2 := &reader{b: append(w.b, r.b...), maxLen: r.maxLen}
		p := decodeProposal(r2)
		r.b, r.err = r2.b, r2.err
		return p
	}
	enc := func(p *Proposal, w *writer) {
		var full writer
		p.encode(&full)
		if full.err != nil {
			w.fail(full.err)
			return
		}
		w.Raw(full.b[2:])
	}
	return dec, enc
}

func mlsMessage(t *testing.T, name string, wire []byte, wf WireFormat, ct ContentType) {
	t.Helper()
	m := roundTrip(t, name, wire, decodeMLSMessage, (*MLSMessage).encode)
	if m == nil {
		return
	}
	if m.WireFormat != wf {
		t.Errorf("%s: wire format %d, want %d", name, m.WireFormat, wf)
	}
	if ct != 0 && m.PublicMessage.Content.ContentType != ct {
		t.Errorf("%s: content type %d, want %d", name, m.PublicMessage.Content.ContentType, ct)
	}
}

// TestMessagesVectors decodes and re-encodes every object of every case
// in messages.json. The objects are not per cipher suite.
func TestMessagesVectors(t *testing.T) {
	cases := loadVectors[messagesCase](t, "messages.json")
	for i, tc := range cases {
		mlsMessage(t, "mls_welcome", tc.MLSWelcome, WireFormatWelcome, 0)
		mlsMessage(t, "mls_group_info", tc.MLSGroupInfo, WireFormatGroupInfo, 0)
		mlsMessage(t, "mls_key_package", tc.MLSKeyPackage, WireFormatKeyPackage, 0)
		mlsMessage(t, "public_message_application", tc.PublicMessageApplication, WireFormatPublicMessage, ContentApplication)
		mlsMessage(t, "public_message_proposal", tc.PublicMessageProposal, WireFormatPublicMessage, ContentProposal)
		mlsMessage(t, "public_message_commit", tc.PublicMessageCommit, WireFormatPublicMessage, ContentCommit)
		mlsMessage(t, "private_message", tc.PrivateMessage, WireFormatPrivateMessage, 0)

		tree, err := ParseRatchetTree(DefaultCipherSuite, tc.RatchetTree)
		if err != nil {
			t.Errorf("case %d: ratchet_tree: %v", i, err)
		} else if out, err := tree.Marshal(); err != nil {
			t.Errorf("case %d: ratchet_tree encode: %v", i, err)
		} else {
			checkHex(t, "ratchet_tree", out, tc.RatchetTree)
		}
		roundTrip(t, "group_secrets", tc.GroupSecrets, decodeGroupSecrets, (*GroupSecrets).encode)
		roundTrip(t, "commit", tc.Commit, decodeCommit, (*Commit).encode)
		for _, p := range []struct {
			name string
			typ  ProposalType
			wire []byte
		}{
			{"add_proposal", ProposalAdd, tc.AddProposal},
			{"update_proposal", ProposalUpdate, tc.UpdateProposal},
			{"remove_proposal", ProposalRemove, tc.RemoveProposal},
			{"pre_shared_key_proposal", ProposalPreSharedKey, tc.PreSharedKeyProposal},
			{"re_init_proposal", ProposalReInit, tc.ReInitProposal},
			{"external_init_proposal", ProposalExternalInit, tc.ExternalInitProposal},
			{"group_context_extensions_proposal", ProposalGroupContextExtensions, tc.GroupContextExtensionsProposal},
		} {
			dec, enc := proposalBody(p.typ)
			roundTrip(t, p.name, p.wire, dec, enc)
		}
		if t.Failed() {
			t.Fatalf("case %d failed", i)
		}
	}
	t.Logf("messages.json: %d cases ran (17 objects each), 0 skipped (not per suite)", len(cases))
}

func TestMLSMessageRejects(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
	}{
		{"version 2", []byte{0, 2, 0, 3, 0, 1, 0, 0}},
		{"wire format 6", []byte{0, 1, 0, 6}},
		{"wire format 0", []byte{0, 1, 0, 0}},
		{"private content type 0", []byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"welcome trailing byte", []byte{0, 1, 0, 3, 0, 1, 0, 0, 0}},
		{"empty", nil},
	}
	for _, tt := range tests {
		if _, err := ParseMLSMessage(tt.wire); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", tt.name, err)
		}
	}
	if _, err := ParseMLSMessage([]byte{0, 1, 0, 3, 0, 1, 0, 0, 0}[:8]); err != nil {
		t.Errorf("minimal welcome: %v", err)
	}
}

func TestExtensionData(t *testing.T) {
	senders := []ExternalSender{{SignatureKey: []byte{1, 2}, Credential: Credential{Type: CredentialBasic, Identity: []byte("ds")}}}
	b, err := MarshalExternalSenders(senders)
	must(t, err)
	got, err := ParseExternalSenders(b)
	must(t, err)
	if len(got) != 1 || string(got[0].Credential.Identity) != "ds" || string(got[0].SignatureKey) != "\x01\x02" {
		t.Fatalf("external senders: %+v", got)
	}
	if _, err := ParseExternalSenders(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	pub, err := parseExternalPub(marshalExternalPub([]byte("key")))
	must(t, err)
	if string(pub) != "key" {
		t.Fatalf("external pub: %q", pub)
	}
}
