package server

import (
	"context"
	"errors"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/contact"
	"github.com/sealine/sealine/internal/password"
	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/store"
)

// lifecycleService implements sealinev1connect.LifecycleServiceHandler.
type lifecycleService struct{ s *Server }

// lifecycleMessage is the human text of the lifecycle reasons.
func lifecycleMessage(reason string) string {
	switch reason {
	case ReasonPhoneInvalid:
		return "phone number must be '+' and 8 to 15 digits (spaces, dashes, dots and parentheses allowed)"
	case ReasonEmailInvalid:
		return "malformed email address"
	case ReasonContactNotSet:
		return "no such contact attribute is set"
	}
	return "internal error"
}

// contactKind maps the API's kind; ok is false for an unknown kind.
func contactKind(k sealinev1.ContactKind) (store.ContactKind, bool) {
	switch k {
	case sealinev1.ContactKind_CONTACT_KIND_PHONE:
		return store.ContactPhone, true
	case sealinev1.ContactKind_CONTACT_KIND_EMAIL:
		return store.ContactEmail, true
	}
	return "", false
}

// normalizeContact validates and normalises a contact value.
func normalizeContact(m *sealinev1.SetContactRequest) (store.ContactKind, string, error) {
	kind, ok := contactKind(m.GetKind())
	if !ok {
		return "", "", errField(ReasonFieldInvalid, "kind")
	}
	if len(m.GetValue()) > contact.MaxEmailBytes {
		return "", "", errField(ReasonFieldTooLong, "value")
	}
	if kind == store.ContactPhone {
		v, err := contact.NormalizePhone(m.GetValue())
		if err != nil {
			return "", "", errField(ReasonPhoneInvalid, "value")
		}
		return kind, v, nil
	}
	v, err := contact.NormalizeEmail(m.GetValue())
	if err != nil {
		return "", "", errField(ReasonEmailInvalid, "value")
	}
	return kind, v, nil
}

// SetContact seals the value under the user's data key and stores it with
// its blind index.
func (l lifecycleService) SetContact(ctx context.Context, req *connect.Request[sealinev1.SetContactRequest]) (*connect.Response[sealinev1.SetContactResponse], error) {
	s, c := l.s, callerOf(ctx)
	kind, norm, err := normalizeContact(req.Msg)
	if err != nil {
		return nil, err
	}
	dk, err := s.keys.DataKey(ctx, s.store.Keys(), c.userID)
	if err != nil {
		return nil, s.errInternal(ctx, "load data key", err)
	}
	enc, err := pii.Seal(dk, c.userID, string(kind), []byte(norm), s.cfg.Rand)
	if err != nil {
		return nil, s.errInternal(ctx, "seal contact", err)
	}
	err = s.store.SetContact(ctx, store.Contact{
		UserID: c.userID, Kind: kind, ValueEnc: enc, SetAt: s.now(),
		BlindIndex: s.keys.ContactIndex(string(kind), norm), IndexKey: s.keys.IndexKeyID(),
	})
	if err != nil {
		return nil, s.errInternal(ctx, "set contact", err)
	}
	return connect.NewResponse(&sealinev1.SetContactResponse{Normalized: norm}), nil
}

// ClearContact deletes a contact attribute.
func (l lifecycleService) ClearContact(ctx context.Context, req *connect.Request[sealinev1.ClearContactRequest]) (*connect.Response[sealinev1.ClearContactResponse], error) {
	s, c := l.s, callerOf(ctx)
	kind, ok := contactKind(req.Msg.GetKind())
	if !ok {
		return nil, errField(ReasonFieldInvalid, "kind")
	}
	err := s.store.ClearContact(ctx, c.userID, kind)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apiError(connect.CodeNotFound, ReasonContactNotSet, "kind", time.Time{})
	}
	if err != nil {
		return nil, s.errInternal(ctx, "clear contact", err)
	}
	return connect.NewResponse(&sealinev1.ClearContactResponse{}), nil
}

// DeleteAccount checks the password again and withdraws the account.
func (l lifecycleService) DeleteAccount(ctx context.Context, req *connect.Request[sealinev1.DeleteAccountRequest]) (*connect.Response[sealinev1.DeleteAccountResponse], error) {
	s, c := l.s, callerOf(ctx)
	if err := firstViolation(tooLong("password", req.Msg.GetPassword(), maxPasswordBytes)); err != nil {
		return nil, err
	}
	if err := s.rateLimit(req.Peer().Addr); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, c.userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errReason(connect.CodeUnauthenticated, ReasonSessionInvalid)
	}
	if err != nil {
		return nil, s.errInternal(ctx, "lookup user", err)
	}
	if err := s.hasher.Verify(ctx, []byte(req.Msg.GetPassword()), u.PasswordHash); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			return nil, apiError(connect.CodePermissionDenied, ReasonBadCredentials, "password", time.Time{})
		}
		return nil, s.errInternal(ctx, "verify password", err)
	}
	res, err := s.withdraw(ctx, u)
	if err != nil {
		return nil, s.errInternal(ctx, "withdraw", err)
	}
	return connect.NewResponse(&sealinev1.DeleteAccountResponse{
		Devices: res.Devices, KeyPackages: res.KeyPackages, QueuedMessages: res.Queued, Blobs: res.Blobs,
	}), nil
}

// ExportAccount returns what the server holds about the caller, opened.
func (l lifecycleService) ExportAccount(ctx context.Context, _ *connect.Request[sealinev1.ExportAccountRequest]) (*connect.Response[sealinev1.ExportAccountResponse], error) {
	s, c := l.s, callerOf(ctx)
	out, err := s.exportAccount(ctx, c)
	if err != nil {
		return nil, s.errInternal(ctx, "export account", err)
	}
	devices, err := s.devices(ctx, c)
	if err != nil {
		return nil, err
	}
	out.Devices = devices
	return connect.NewResponse(out), nil
}

// exportAccount opens the profile and contacts and lists conversations.
func (s *Server) exportAccount(ctx context.Context, c caller) (*sealinev1.ExportAccountResponse, error) {
	p, err := s.openProfile(ctx, c.userID)
	if err != nil {
		return nil, err
	}
	u, dk := p.user, p.dk
	out := &sealinev1.ExportAccountResponse{
		UserId: u.ID, Username: p.name, DisplayName: p.display,
		CreatedAt: timestamppb.New(u.CreatedAt), FailedLogins: int64(u.FailedLogins),
	}
	if !u.LockedUntil.IsZero() {
		out.LockedUntil = timestamppb.New(u.LockedUntil)
	}
	if err := s.exportContacts(ctx, dk, u.ID, out); err != nil {
		return nil, err
	}
	if out.ConversationIds, err = s.conversationsOfUser(ctx, u.ID); err != nil {
		return nil, err
	}
	out.BlobBytes, err = s.store.BlobUsage(ctx, u.ID)
	return out, err
}

func (s *Server) exportContacts(ctx context.Context, dk pii.DataKey, userID string, out *sealinev1.ExportAccountResponse) error {
	contacts, err := s.store.Contacts(ctx, userID)
	if err != nil {
		return err
	}
	for _, ct := range contacts {
		v, err := pii.Open(dk, userID, string(ct.Kind), ct.ValueEnc)
		if err != nil {
			return err
		}
		if ct.Kind == store.ContactPhone {
			out.Phone = string(v)
		} else {
			out.Email = string(v)
		}
	}
	return nil
}

// conversationsOfUser lists the conversations of every device of the user.
func (s *Server) conversationsOfUser(ctx context.Context, userID string) ([]string, error) {
	devices, err := s.store.ListDevices(ctx, userID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, d := range devices {
		convs, err := s.store.ConversationsOf(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		for _, c := range convs {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
