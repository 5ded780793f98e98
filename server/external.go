package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/store"
)

// The server as an MLS external sender (RFC 9420, Section 12.1.8.1).
// Clients list the server's Ed25519 key in the external_senders extension
// of every group they create (index 0, identity ExternalSenderIdentity),
// so that the server can propose the removal of devices that no longer
// exist: on withdrawal it sends, for each conversation of the user, a
// Remove proposal for each of the user's devices, signed with this key
// and framed as a PublicMessage of the conversation's current epoch; the
// remaining members commit it. The key is a 32-byte Ed25519 seed in
// <DataDir>/external_sender.key (mode 0600), created on first start.
// Nodes sharing a database must share this file, as they share the KEK.

// ExternalSenderIdentity is the identity of the server's BasicCredential
// in the external_senders extension.
const ExternalSenderIdentity = "sealine-server"

// externalSenderSuite is the suite the key is held in; its Ed25519
// signature also signs for the other Ed25519 suites (0x004D).
const externalSenderSuite = mls.CipherSuite(1)

// loadExternalSender reads the external sender key, creating it (with
// O_EXCL, so concurrent first starts agree) when it does not exist.
func loadExternalSender(cfg Config) (*mls.SignaturePrivateKey, error) {
	path := dataPath(cfg, "external_sender.key")
	seed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed, err = createExternalSender(path, cfg.Rand)
	}
	if err != nil {
		return nil, fmt.Errorf("server: external sender key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("server: external sender key %s: %d bytes, want %d", path, len(seed), ed25519.SeedSize)
	}
	return externalSenderSuite.NewSignaturePrivateKey(seed)
}

// createExternalSender writes a fresh seed to path (0600, fsynced); if
// another process created it first, it reads that one.
func createExternalSender(path string, rand io.Reader) ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	_, err = f.Write(seed)
	if err == nil {
		err = f.Sync()
	}
	return seed, errors.Join(err, f.Close())
}

// ServerInfo returns the server's external sender.
func (cs conversationService) ServerInfo(context.Context, *connect.Request[sealinev1.ServerInfoRequest]) (*connect.Response[sealinev1.ServerInfoResponse], error) {
	return connect.NewResponse(&sealinev1.ServerInfoResponse{
		ExternalSenderKey:      cs.s.msg.external.PublicKey(),
		ExternalSenderIdentity: ExternalSenderIdentity,
	}), nil
}

// checkAddedLeaves checks a commit's added_leaves: each names an added
// device once.
func checkAddedLeaves(m *sealinev1.CommitRequest) ([]store.DeviceLeaf, error) {
	var out []store.DeviceLeaf
	seen := map[string]bool{}
	for _, l := range m.GetAddedLeaves() {
		d := l.GetDeviceId()
		if seen[d] || !slices.Contains(m.GetAddedDeviceIds(), d) {
			return nil, errField(ReasonFieldInvalid, "added_leaves")
		}
		seen[d] = true
		out = append(out, store.DeviceLeaf{DeviceID: d, Leaf: l.GetLeafIndex()})
	}
	return out, nil
}

// removeDevices sends, for each leaf, the server's Remove proposal at
// the conversation's current epoch to its remaining members (a
// conversation moving on meanwhile is read again, up to three times). It
// returns how many proposals it queued and how many it could not.
func (s *Server) removeDevices(ctx context.Context, leaves []store.DeviceLeaf) (sent, failed int) {
	for _, l := range leaves {
		err := s.removeDevice(ctx, l)
		for try := 0; try < 2 && errors.Is(err, store.ErrStaleEpoch); try++ {
			err = s.removeDevice(ctx, l)
		}
		switch {
		case err == nil:
			sent++
		case !errors.Is(err, store.ErrNotFound): // a conversation left empty is gone
			failed++
			s.logger(ctx).Warn("external remove", "err", err)
		}
	}
	return sent, failed
}

// removeDevice queues one Remove proposal for l.
func (s *Server) removeDevice(ctx context.Context, l store.DeviceLeaf) error {
	conv, err := s.store.Conversation(ctx, l.ConversationID)
	if err != nil {
		return err
	}
	wire, err := mls.NewExternalRemove(mls.ExternalProposalParams{
		CipherSuite: externalSenderSuite, GroupID: conv.GroupID, Epoch: conv.Epoch, SignatureKey: s.msg.external,
	}, mls.LeafIndex(l.Leaf))
	if err != nil {
		return err
	}
	id, err := s.newMessageID("m")
	if err != nil {
		return err
	}
	res, err := s.store.PostExternal(ctx, store.ExternalPost{ID: id, ConversationID: conv.ID, GroupID: conv.GroupID,
		Epoch: conv.Epoch, Payload: wire, At: s.now(), MaxQueue: s.msg.cfg.MaxQueue})
	for _, d := range res.Recipients {
		s.cfg.Notifier.Notify(deviceKey(d))
	}
	return err
}

// recordCreator records the creator of a group that lists the server as
// external sender at leaf 0, where RFC 9420 puts a group's creator.
func (s *Server) recordCreator(ctx context.Context, m *sealinev1.CreateConversationRequest, convID, deviceID string) error {
	if !m.GetExternalSender() {
		return nil
	}
	return s.store.SetLeaves(ctx, convID, []store.DeviceLeaf{{ConversationID: convID, DeviceID: deviceID}})
}

// leavesOfDevice lists one device's known leaves, for the Remove
// proposals that follow its revocation; a failure only logs (the
// revocation itself must not depend on it).
func (s *Server) leavesOfDevice(ctx context.Context, userID, deviceID string) []store.DeviceLeaf {
	all, err := s.store.LeavesOfUser(ctx, userID)
	if err != nil {
		s.logger(ctx).Warn("list leaves", "err", err)
		return nil
	}
	var out []store.DeviceLeaf
	for _, l := range all {
		if l.DeviceID == deviceID {
			out = append(out, l)
		}
	}
	return out
}
