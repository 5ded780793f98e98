package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/mls"
)

// The server as an MLS external sender (RFC 9420, Section 12.1.8.1): a
// group this device creates lists the server's key (ServerInfo) in its
// external_senders extension, so the server can propose the removal of a
// withdrawn user's devices. Such a Remove is committed like a member's
// leave: by the remaining member with the lowest leaf index, retried on
// stale_epoch. Commits tell the server each added device's leaf index.

// groupExtensions returns the group context extensions for a new group
// of suite cs: the server as external sender, when the server has one
// and cs signs with Ed25519 (the server's scheme).
func (m *Messenger) groupExtensions(ctx context.Context, cs mls.CipherSuite) ([]mls.Extension, error) {
	if cs != 0x0001 && cs != 0x004D {
		return nil, nil
	}
	info, err := call(ctx, m.c, connect.NewRequest(&sealinev1.ServerInfoRequest{}), m.convs.ServerInfo)
	var refusal *Error
	if errors.As(err, &refusal) && refusal.Code == connect.CodeUnimplemented {
		return nil, nil // an older server: no external sender
	}
	if err != nil {
		return nil, fmt.Errorf("server info: %w", err)
	}
	if len(info.GetExternalSenderKey()) == 0 {
		return nil, nil
	}
	ext, err := mls.ExternalSendersExtension([]mls.ExternalSender{{
		SignatureKey: info.GetExternalSenderKey(),
		Credential:   mls.Credential{Type: mls.CredentialBasic, Identity: []byte(info.GetExternalSenderIdentity())},
	}})
	if err != nil {
		return nil, fmt.Errorf("server info: %w", err)
	}
	return []mls.Extension{ext}, nil
}

// addedLeaves tells the server the leaf each device in added got in the
// commit's new epoch, if g lists the server as external sender (else the
// server could send it Remove proposals its members refuse).
func addedLeaves(g *mls.Group, pc *mls.PendingCommit, added []string) []*sealinev1.DeviceLeaf {
	if !hasExternalSenders(g) {
		return nil
	}
	var out []*sealinev1.DeviceLeaf
	for _, leaf := range pc.Info.Added {
		ln := pc.LeafNode(leaf)
		if ln == nil {
			continue
		}
		if who, ok := parseIdentity(ln.Credential); ok && slices.Contains(added, who.DeviceID) {
			out = append(out, &sealinev1.DeviceLeaf{DeviceId: who.DeviceID, LeafIndex: uint32(leaf)})
		}
	}
	return out
}

// onExternalProposal handles a proposal from the server (the group's
// external sender): a Remove of another member's device is committed
// like a leave. m.mu is held.
func (m *Messenger) onExternalProposal(cv *conversation, rcv *mls.Received, out *outcome) {
	if rcv.Proposal == nil || rcv.Proposal.Type != mls.ProposalRemove {
		return
	}
	who, ok := memberAt(cv.g, rcv.Proposal.Removed)
	if !ok || who == m.me {
		return
	}
	conv := cv.rec.ConvID
	if m.leaving[conv] == nil {
		m.leaving[conv] = map[Member]bool{}
	}
	m.leaving[conv][who] = true
	m.scheduleLeaves(cv, out)
}

func hasExternalSenders(g *mls.Group) bool {
	for _, e := range g.GroupContext().Extensions {
		if e.Type == mls.ExtensionExternalSenders {
			return true
		}
	}
	return false
}
