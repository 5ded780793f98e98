package server

import (
	"context"
	"errors"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/store"
)

// conversationService implements sealinev1connect.ConversationServiceHandler:
// it registers MLS groups and orders their handshake messages, first
// commit for an epoch wins.
type conversationService struct{ s *Server }

// CreateConversation registers a group with the caller as only member.
func (cs conversationService) CreateConversation(ctx context.Context, req *connect.Request[sealinev1.CreateConversationRequest]) (*connect.Response[sealinev1.CreateConversationResponse], error) {
	s, c := cs.s, callerOf(ctx)
	m := req.Msg
	kind := m.GetKind()
	if n := len(m.GetGroupId()); n == 0 || n > maxGroupIDBytes {
		return nil, errField(ReasonFieldInvalid, "group_id")
	}
	if kind != sealinev1.Conversation_KIND_DIRECT && kind != sealinev1.Conversation_KIND_GROUP {
		return nil, errField(ReasonFieldInvalid, "kind")
	}
	id, err := s.newID("c")
	if err != nil {
		return nil, s.errInternal(ctx, "new id", err)
	}
	conv := store.Conversation{ID: id, GroupID: m.GetGroupId(), Kind: store.ConversationKind(kind), CreatedAt: s.now()}
	err = s.store.CreateConversation(ctx, conv, c.userID, c.deviceID)
	if errors.Is(err, store.ErrConflict) {
		return nil, msgError(connect.CodeAlreadyExists, ReasonConversationExists, "group_id")
	}
	if err != nil {
		return nil, s.errInternal(ctx, "create conversation", err)
	}
	if err := s.recordCreator(ctx, m, id, c.deviceID); err != nil {
		// The conversation stands; only a later external Remove of the
		// creator is lost.
		s.logger(ctx).Warn("record leaf indexes", "err", err)
	}
	return connect.NewResponse(&sealinev1.CreateConversationResponse{Conversation: conversationProto(conv)}), nil
}

func conversationProto(c store.Conversation) *sealinev1.Conversation {
	return &sealinev1.Conversation{
		Id: c.ID, GroupId: c.GroupID, Kind: sealinev1.Conversation_Kind(c.Kind),
		Epoch: c.Epoch, CreatedAt: timestamppb.New(c.CreatedAt),
	}
}

// ListConversations lists the caller's conversations.
func (cs conversationService) ListConversations(ctx context.Context, _ *connect.Request[sealinev1.ListConversationsRequest]) (*connect.Response[sealinev1.ListConversationsResponse], error) {
	s, c := cs.s, callerOf(ctx)
	list, err := s.store.ConversationsOf(ctx, c.deviceID)
	if err != nil {
		return nil, s.errInternal(ctx, "list conversations", err)
	}
	out := &sealinev1.ListConversationsResponse{}
	for _, conv := range list {
		out.Conversations = append(out.Conversations, conversationProto(conv))
	}
	return connect.NewResponse(out), nil
}

// Commit orders a commit: the first for its epoch wins (see store.Queues).
func (cs conversationService) Commit(ctx context.Context, req *connect.Request[sealinev1.CommitRequest]) (*connect.Response[sealinev1.CommitResponse], error) {
	s, c := cs.s, callerOf(ctx)
	m := req.Msg
	if err := checkConversationID(m.GetConversationId()); err != nil {
		return nil, err
	}
	groupID, err := checkHandshake(m.GetCommit(), mls.ContentCommit, m.GetEpoch(), "commit")
	if err != nil {
		return nil, err
	}
	welcomes, err := s.checkCommitMembers(m)
	if err != nil {
		return nil, err
	}
	leaves, err := checkAddedLeaves(m)
	if err != nil {
		return nil, err
	}
	p, err := s.newPost(c, store.EnvelopeCommit, m.GetConversationId(), groupID, m.GetEpoch(), m.GetCommit())
	if err != nil {
		return nil, s.errInternal(ctx, "new id", err)
	}
	p.Added, p.Removed, p.Welcomes = m.GetAddedDeviceIds(), m.GetRemovedDeviceIds(), welcomes
	res, err := s.msg.committer.submit(ctx, p)
	if err != nil {
		return nil, s.storeError(ctx, "commit", err)
	}
	if err := s.store.SetLeaves(ctx, m.GetConversationId(), leaves); err != nil {
		// The commit stands; only a later external Remove of these
		// devices is lost.
		s.logger(ctx).Warn("record leaf indexes", "err", err)
	}
	return connect.NewResponse(&sealinev1.CommitResponse{Epoch: res.Epoch, Cursor: res.Cursor}), nil
}

// checkCommitMembers checks the declared membership change and the
// Welcomes: each parses as an MLS Welcome and goes only to added devices,
// and every added device gets one.
func (s *Server) checkCommitMembers(m *sealinev1.CommitRequest) ([]store.Welcome, error) {
	added, removed := m.GetAddedDeviceIds(), m.GetRemovedDeviceIds()
	if !validIDs(added, maxListedDevices) {
		return nil, errField(ReasonFieldInvalid, "added_device_ids")
	}
	if !validIDs(removed, maxListedDevices) || slices.ContainsFunc(removed, func(id string) bool { return slices.Contains(added, id) }) {
		return nil, errField(ReasonFieldInvalid, "removed_device_ids")
	}
	var out []store.Welcome
	welcomed := map[string]bool{}
	for _, w := range m.GetWelcomes() {
		msg, err := mls.ParseMLSMessage(w.GetWelcome())
		if err != nil || msg.Welcome == nil || len(w.GetDeviceIds()) == 0 || !validIDs(w.GetDeviceIds(), maxListedDevices) {
			return nil, errField(ReasonMessageInvalid, "welcomes")
		}
		for _, d := range w.GetDeviceIds() {
			if !slices.Contains(added, d) || welcomed[d] {
				return nil, errField(ReasonFieldInvalid, "welcomes.device_ids")
			}
			welcomed[d] = true
		}
		id, err := s.newMessageID("w")
		if err != nil {
			return nil, err
		}
		out = append(out, store.Welcome{ID: id, Payload: w.GetWelcome(), DeviceIDs: w.GetDeviceIds()})
	}
	if len(welcomed) != len(added) {
		return nil, errField(ReasonFieldInvalid, "welcomes")
	}
	return out, nil
}

// Propose sends a proposal to every other member; with leave set the
// caller stops receiving at once.
func (cs conversationService) Propose(ctx context.Context, req *connect.Request[sealinev1.ProposeRequest]) (*connect.Response[sealinev1.ProposeResponse], error) {
	s, c := cs.s, callerOf(ctx)
	m := req.Msg
	if err := checkConversationID(m.GetConversationId()); err != nil {
		return nil, err
	}
	groupID, err := checkHandshake(m.GetProposal(), mls.ContentProposal, m.GetEpoch(), "proposal")
	if err != nil {
		return nil, err
	}
	p, err := s.newPost(c, store.EnvelopeProposal, m.GetConversationId(), groupID, m.GetEpoch(), m.GetProposal())
	if err != nil {
		return nil, s.errInternal(ctx, "new id", err)
	}
	p.Leave = m.GetLeave()
	if _, err := s.msg.committer.submit(ctx, p); err != nil {
		return nil, s.storeError(ctx, "propose", err)
	}
	return connect.NewResponse(&sealinev1.ProposeResponse{}), nil
}

// checkHandshake parses an MLSMessage carrying a proposal or commit, as a
// PublicMessage or PrivateMessage, for epoch, and returns its group id.
// It reads only the framing; signatures are the members' to verify.
func checkHandshake(raw []byte, want mls.ContentType, epoch uint64, field string) ([]byte, error) {
	msg, err := mls.ParseMLSMessage(raw)
	if err != nil {
		return nil, errField(ReasonMessageInvalid, field)
	}
	var groupID []byte
	var gotEpoch uint64
	var got mls.ContentType
	switch {
	case msg.PublicMessage != nil:
		fc := msg.PublicMessage.Content
		groupID, gotEpoch, got = fc.GroupID, fc.Epoch, fc.ContentType
	case msg.PrivateMessage != nil:
		pm := msg.PrivateMessage
		groupID, gotEpoch, got = pm.GroupID, pm.Epoch, pm.ContentType
	}
	if got != want || gotEpoch != epoch {
		return nil, errField(ReasonMessageInvalid, field)
	}
	return groupID, nil
}

// newPost starts a post from the caller.
func (s *Server) newPost(c caller, kind store.EnvelopeKind, convID string, groupID []byte, epoch uint64, payload []byte) (store.Post, error) {
	id, err := s.newMessageID("m")
	if err != nil {
		return store.Post{}, err
	}
	return store.Post{
		ID: id, Kind: kind, ConversationID: convID, GroupID: groupID,
		SenderUserID: c.userID, SenderDeviceID: c.deviceID, Epoch: epoch, Payload: payload,
		At: s.now(), MaxQueue: s.msg.cfg.MaxQueue,
	}, nil
}
