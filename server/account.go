package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/password"
	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/internal/username"
	"github.com/sealine/sealine/store"
)

// Field names bound into the AD of sealed values (see internal/pii).
const (
	fieldUsername    = "username"
	fieldDisplayName = "display_name"
	fieldDeviceName  = "device_name"
)

// accountService implements sealinev1connect.AccountServiceHandler.
type accountService struct{ s *Server }

// Register creates a user with its first device and session.
func (a accountService) Register(ctx context.Context, req *connect.Request[sealinev1.RegisterRequest]) (*connect.Response[sealinev1.RegisterResponse], error) {
	s, m := a.s, req.Msg
	if err := validateRegister(m); err != nil {
		return nil, err
	}
	name, err := username.Normalize(m.GetUsername())
	if err != nil {
		return nil, usernameError(err)
	}
	if strings.EqualFold(m.GetPassword(), m.GetUsername()) || strings.EqualFold(m.GetPassword(), name) {
		return nil, errField(ReasonPasswordWeak, "password")
	}
	if err := s.rateLimit(req.Peer().Addr); err != nil {
		return nil, err
	}
	index := s.keys.BlindIndex(name)
	if _, err := s.store.UserByUsernameIndex(ctx, index); !errors.Is(err, store.ErrNotFound) {
		if err == nil {
			return nil, apiError(connect.CodeAlreadyExists, ReasonUsernameTaken, "username", time.Time{})
		}
		return nil, s.errInternal(ctx, "lookup username", err)
	}
	if err := s.quarantined(ctx, index); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, []byte(m.GetPassword()))
	if err != nil {
		return nil, s.errInternal(ctx, "hash password", err)
	}
	sess, err := s.createUser(ctx, name, index, hash, m)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sealinev1.RegisterResponse{Session: sess, Username: name}), nil
}

// createUser stores the user's data key, then the user, device and session.
func (s *Server) createUser(ctx context.Context, name string, index []byte, hash string, m *sealinev1.RegisterRequest) (*sealinev1.Session, error) {
	now := s.now()
	userID, err := s.newID("u")
	if err != nil {
		return nil, s.errInternal(ctx, "user id", err)
	}
	dk, err := s.keys.CreateDataKey(ctx, s.store.Keys(), userID, now, s.cfg.Rand)
	if err != nil {
		return nil, s.errInternal(ctx, "create data key", err)
	}
	u := store.User{ID: userID, UsernameIndex: index, PasswordHash: hash, CreatedAt: now}
	u.UsernameEnc, err = pii.Seal(dk, userID, fieldUsername, []byte(name), s.cfg.Rand)
	if err == nil {
		u.DisplayNameEnc, err = pii.Seal(dk, userID, fieldDisplayName, []byte(m.GetDisplayName()), s.cfg.Rand)
	}
	d, sess, out, err2 := s.newDevice(dk, userID, m.GetDevice(), now)
	if err = errors.Join(err, err2); err == nil {
		err = s.store.CreateUser(ctx, u, d, sess)
	}
	if err != nil {
		// Nothing else refers to the new key: remove it so no row remains.
		_ = s.store.Keys().DeleteKey(context.WithoutCancel(ctx), userID)
		if errors.Is(err, store.ErrConflict) {
			return nil, apiError(connect.CodeAlreadyExists, ReasonUsernameTaken, "username", time.Time{})
		}
		return nil, s.errInternal(ctx, "create user", err)
	}
	return out, nil
}

// newDevice builds a device with a sealed name and its fresh session.
func (s *Server) newDevice(dk pii.DataKey, userID string, nd *sealinev1.NewDevice, now time.Time) (store.Device, store.Session, *sealinev1.Session, error) {
	deviceID, err := s.newID("d")
	if err != nil {
		return store.Device{}, store.Session{}, nil, err
	}
	nameEnc, err := pii.Seal(dk, deviceID, fieldDeviceName, []byte(nd.GetName()), s.cfg.Rand)
	if err != nil {
		return store.Device{}, store.Session{}, nil, err
	}
	token, hash, err := s.newToken()
	if err != nil {
		return store.Device{}, store.Session{}, nil, err
	}
	d := store.Device{ID: deviceID, UserID: userID, NameEnc: nameEnc, SignatureKey: nd.GetSignatureKey(), CreatedAt: now, LastSeenAt: now}
	expires := now.Add(s.cfg.SessionTTL)
	sess := store.Session{TokenHash: hash, UserID: userID, DeviceID: deviceID, CreatedAt: now, ExpiresAt: expires}
	out := &sealinev1.Session{UserId: userID, DeviceId: deviceID, Token: token, ExpiresAt: timestamppb.New(expires)}
	return d, sess, out, nil
}

// Login checks the password and opens a new device session.
func (a accountService) Login(ctx context.Context, req *connect.Request[sealinev1.LoginRequest]) (*connect.Response[sealinev1.LoginResponse], error) {
	s, m := a.s, req.Msg
	if err := validateLogin(m); err != nil {
		return nil, err
	}
	if err := s.rateLimit(req.Peer().Addr); err != nil {
		s.metrics.login(ReasonRateLimited)
		return nil, err
	}
	u, err := s.checkPassword(ctx, m.GetUsername(), []byte(m.GetPassword()))
	if err != nil {
		s.metrics.login(reasonOf(err))
		return nil, err
	}
	dk, err := s.keys.DataKey(ctx, s.store.Keys(), u.ID)
	if err != nil {
		return nil, s.errInternal(ctx, "load data key", err)
	}
	d, sess, out, err := s.newDevice(dk, u.ID, m.GetDevice(), s.now())
	if err == nil {
		err = s.store.CreateDevice(ctx, d, sess)
	}
	if err != nil {
		return nil, s.errInternal(ctx, "create device", err)
	}
	s.metrics.login("ok")
	s.cfg.Notifier.Notify(u.ID)
	return connect.NewResponse(&sealinev1.LoginResponse{Session: out}), nil
}

// checkPassword finds the user and verifies the password, enforcing the
// lockout. Unknown or invalid usernames cost one hash too and get the same
// bad_credentials error as a wrong password.
func (s *Server) checkPassword(ctx context.Context, name string, pw []byte) (store.User, error) {
	u, err := s.userByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.hasher.Burn(ctx, pw); !errors.Is(err, password.ErrMismatch) {
			return store.User{}, s.errInternal(ctx, "hash", err)
		}
		return store.User{}, errReason(connect.CodeUnauthenticated, ReasonBadCredentials)
	}
	if err != nil {
		return store.User{}, s.errInternal(ctx, "lookup user", err)
	}
	now := s.now()
	if u.LockedUntil.After(now) {
		return store.User{}, errRetry(ReasonLockedOut, u.LockedUntil)
	}
	err = s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, password.ErrMismatch) {
		return store.User{}, s.loginFailed(ctx, u.ID, now)
	}
	if err != nil {
		return store.User{}, s.errInternal(ctx, "verify password", err)
	}
	s.loginSucceeded(ctx, u, pw)
	return u, nil
}

// userByName normalises and looks up a username; store.ErrNotFound when it
// is invalid or unknown.
func (s *Server) userByName(ctx context.Context, name string) (store.User, error) {
	norm, err := username.Normalize(name)
	if err != nil {
		return store.User{}, store.ErrNotFound
	}
	return s.store.UserByUsernameIndex(ctx, s.keys.BlindIndex(norm))
}

// loginFailed counts a wrong password and locks the account at the limit.
func (s *Server) loginFailed(ctx context.Context, userID string, now time.Time) error {
	_, lockedUntil, err := s.store.RecordLoginFailure(ctx, userID, s.cfg.LockoutFailures, now.Add(s.cfg.LockoutDuration))
	if err != nil {
		return s.errInternal(ctx, "record login failure", err)
	}
	if lockedUntil.After(now) {
		s.metrics.lockouts.Inc()
		s.logger(ctx).Warn("account locked", "user_id", userID, "until", lockedUntil)
		return errRetry(ReasonLockedOut, lockedUntil)
	}
	return errReason(connect.CodeUnauthenticated, ReasonBadCredentials)
}

// loginSucceeded clears failures and re-hashes with current parameters.
// Both are best effort: the login itself has succeeded.
func (s *Server) loginSucceeded(ctx context.Context, u store.User, pw []byte) {
	if u.FailedLogins > 0 || !u.LockedUntil.IsZero() {
		if err := s.store.ResetLoginFailures(ctx, u.ID); err != nil {
			s.logger(ctx).Warn("reset login failures failed", "err", err.Error())
		}
	}
	if !s.hasher.NeedsRehash(u.PasswordHash) {
		return
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err == nil {
		err = s.store.SetPasswordHash(ctx, u.ID, hash)
	}
	if err != nil {
		s.logger(ctx).Warn("password re-hash failed", "err", err.Error())
	}
}

// ChangePassword replaces the password and revokes every other device.
func (a accountService) ChangePassword(ctx context.Context, req *connect.Request[sealinev1.ChangePasswordRequest]) (*connect.Response[sealinev1.ChangePasswordResponse], error) {
	s, m, c := a.s, req.Msg, callerOf(ctx)
	if err := validateChangePassword(m); err != nil {
		return nil, err
	}
	if err := s.rateLimit(req.Peer().Addr); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, c.userID)
	if err != nil {
		return nil, s.errInternal(ctx, "lookup user", err)
	}
	if err := s.hasher.Verify(ctx, []byte(m.GetCurrentPassword()), u.PasswordHash); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			return nil, apiError(connect.CodePermissionDenied, ReasonBadCredentials, "current_password", time.Time{})
		}
		return nil, s.errInternal(ctx, "verify password", err)
	}
	hash, err := s.hasher.Hash(ctx, []byte(m.GetNewPassword()))
	if err != nil {
		return nil, s.errInternal(ctx, "hash password", err)
	}
	revoked, err := s.store.ChangePassword(ctx, c.userID, hash, c.deviceID)
	if err != nil {
		return nil, s.errInternal(ctx, "change password", err)
	}
	s.cfg.Notifier.Notify(c.userID)
	return connect.NewResponse(&sealinev1.ChangePasswordResponse{RevokedDevices: int32(revoked)}), nil
}

// Logout revokes the calling device.
func (a accountService) Logout(ctx context.Context, _ *connect.Request[sealinev1.LogoutRequest]) (*connect.Response[sealinev1.LogoutResponse], error) {
	s, c := a.s, callerOf(ctx)
	err := s.store.RevokeDevice(ctx, c.userID, c.deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errReason(connect.CodeUnauthenticated, ReasonSessionInvalid)
	}
	if err != nil {
		return nil, s.errInternal(ctx, "revoke device", err)
	}
	s.cfg.Notifier.Notify(c.userID)
	return connect.NewResponse(&sealinev1.LogoutResponse{}), nil
}

// usernameError maps a username.Normalize error to the API error.
func usernameError(err error) error {
	if errors.Is(err, username.ErrConfusable) {
		return errField(ReasonUsernameConfusable, "username")
	}
	return errField(ReasonUsernameInvalid, "username")
}

// rateLimit takes a token from the caller's IP bucket.
func (s *Server) rateLimit(peerAddr string) error {
	host, _, err := net.SplitHostPort(peerAddr)
	if err != nil {
		host = peerAddr
	}
	if ok, next := s.limiter.allow(host, s.now()); !ok {
		return errRetry(ReasonRateLimited, next)
	}
	return nil
}

// newMessageID returns prefix and 16 bytes in hex for a message row: the
// server clock's Unix nanoseconds (8 bytes, big-endian), then 8 random
// bytes. Ids that grow with time land at the end of the messages table's
// primary-key index instead of at a random page, which halves the cost
// of a post on SQLite; they never leave the server, and the row already
// records its time.
func (s *Server) newMessageID(prefix string) (string, error) {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(s.now().UnixNano()))
	if _, err := io.ReadFull(s.cfg.Rand, b[8:]); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

// newID returns prefix + 128 random bits in hex.
func (s *Server) newID(prefix string) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}
