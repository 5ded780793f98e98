package server

import (
	"context"
	"errors"
	"slices"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/store"
)

// maxLookupIDs bounds the ids of one LookupUsers request (account.proto).
const maxLookupIDs = 100

// userService implements sealinev1connect.UserServiceHandler.
//
// LookupUsers reveals a username only to the user itself and to users who
// share a conversation with it: they already see its devices' credentials
// and messages, and the server already knows they talk. Every other id is
// left out, so a caller learns nothing about who exists.
type userService struct{ s *Server }

// LookupUsers returns the profile of each visible user id. Neither the
// ids asked about nor the names returned are logged.
func (u userService) LookupUsers(ctx context.Context, req *connect.Request[sealinev1.LookupUsersRequest]) (*connect.Response[sealinev1.LookupUsersResponse], error) {
	s, c := u.s, callerOf(ctx)
	ids := req.Msg.GetUserIds()
	if err := checkLookupIDs(ids); err != nil {
		return nil, err
	}
	if ok, next := s.msg.lookups.allow(c.userID, s.now()); !ok {
		return nil, errRetry(ReasonRateLimited, next)
	}
	visible, err := s.visibleUsers(ctx, c.userID, ids)
	if err != nil {
		return nil, s.errInternal(ctx, "co-members", err)
	}
	out := &sealinev1.LookupUsersResponse{}
	for _, id := range visible {
		info, err := s.userInfo(ctx, id)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, pii.ErrKeyDestroyed) {
			continue // withdrawn meanwhile: left out like any unknown id
		}
		if err != nil {
			return nil, s.errInternal(ctx, "open user", err)
		}
		out.Users = append(out.Users, info)
	}
	return connect.NewResponse(out), nil
}

// checkLookupIDs enforces 1..100 distinct ids of 1..64 bytes.
func checkLookupIDs(ids []string) error {
	if len(ids) == 0 || len(ids) > maxLookupIDs {
		return errField(ReasonFieldInvalid, "user_ids")
	}
	for i, id := range ids {
		switch {
		case len(id) > maxDeviceIDBytes:
			return errField(ReasonFieldTooLong, "user_ids")
		case id == "" || slices.Contains(ids[:i], id):
			return errField(ReasonFieldInvalid, "user_ids")
		}
	}
	return nil
}

// visibleUsers returns the ids the caller may look up: its own and its
// co-members'.
func (s *Server) visibleUsers(ctx context.Context, me string, ids []string) ([]string, error) {
	others := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == me })
	out, err := s.store.CoMembers(ctx, me, others)
	if err != nil {
		return nil, err
	}
	if len(others) < len(ids) {
		out = append(out, me)
	}
	return out, nil
}

// userInfo opens a user's sealed username and display name.
func (s *Server) userInfo(ctx context.Context, id string) (*sealinev1.UserInfo, error) {
	p, err := s.openProfile(ctx, id)
	if err != nil {
		return nil, err
	}
	return &sealinev1.UserInfo{UserId: p.user.ID, Username: p.name, DisplayName: p.display}, nil
}

// profile is a user's record with its data key, username and display
// name opened.
type profile struct {
	user          store.User
	dk            pii.DataKey
	name, display string
}

// openProfile reads a user and opens its username and display name.
func (s *Server) openProfile(ctx context.Context, id string) (profile, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return profile{}, err
	}
	dk, err := s.keys.DataKey(ctx, s.store.Keys(), u.ID)
	if err != nil {
		return profile{}, err
	}
	name, err := pii.Open(dk, u.ID, fieldUsername, u.UsernameEnc)
	if err != nil {
		return profile{}, err
	}
	display, err := pii.Open(dk, u.ID, fieldDisplayName, u.DisplayNameEnc)
	if err != nil {
		return profile{}, err
	}
	return profile{user: u, dk: dk, name: string(name), display: string(display)}, nil
}
