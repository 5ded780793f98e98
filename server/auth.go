package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/store"
)

// tokenBytes is the size of a session token before base64url.
const tokenBytes = 32

// touchEvery is how often a device's last-seen time is written at most.
const touchEvery = time.Minute

// caller is the authenticated device of a request.
type caller struct {
	userID    string
	deviceID  string
	tokenHash []byte
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerOf returns the authenticated caller; handlers of authenticated
// procedures always have one.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// public lists the procedures that need no session.
func public(procedure string) bool {
	return procedure == sealinev1connect.AccountServiceRegisterProcedure ||
		procedure == sealinev1connect.AccountServiceLoginProcedure
}

// newToken returns a fresh bearer token and the hash the store keeps.
func (s *Server) newToken() (string, []byte, error) {
	raw := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.cfg.Rand, raw); err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(raw), sum[:], nil
}

// tokenHash parses "Bearer <token>" and hashes the token.
func tokenHash(h http.Header) ([]byte, bool) {
	tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok || len(tok) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) != tokenBytes {
		return nil, false
	}
	sum := sha256.Sum256(raw)
	return sum[:], true
}

// authenticate looks the bearer session up in the store.
func (s *Server) authenticate(ctx context.Context, h http.Header) (caller, error) {
	hash, ok := tokenHash(h)
	if !ok {
		return caller{}, errReason(connect.CodeUnauthenticated, ReasonSessionInvalid)
	}
	now := s.now()
	sess, err := s.store.SessionByTokenHash(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return caller{}, errReason(connect.CodeUnauthenticated, ReasonSessionInvalid)
	}
	if err != nil {
		return caller{}, s.errInternal(ctx, "session lookup", err)
	}
	if s.touches.due(sess.DeviceID, now) {
		if err := s.store.TouchDevice(ctx, sess.DeviceID, now); err != nil {
			s.logger(ctx).Warn("touch device failed", "err", err.Error())
		}
	}
	return caller{userID: sess.UserID, deviceID: sess.DeviceID, tokenHash: hash}, nil
}

// sessionAlive re-checks the caller's session, for long-lived streams.
func (s *Server) sessionAlive(ctx context.Context, c caller) error {
	_, err := s.store.SessionByTokenHash(ctx, c.tokenHash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return errReason(connect.CodeUnauthenticated, ReasonSessionRevoked)
	}
	if err != nil {
		return s.errInternal(ctx, "session recheck", err)
	}
	return nil
}

// touches remembers when each device's last-seen time was last written, so
// that it is written at most once per touchEvery. Losing it only costs an
// extra write.
type touches struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func newTouches() *touches { return &touches{last: map[string]time.Time{}} }

// due reports whether deviceID should be touched at now, and if so records it.
func (t *touches) due(deviceID string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[deviceID]; ok && now.Sub(last) < touchEvery {
		return false
	}
	if len(t.last) >= maxBuckets {
		clear(t.last)
	}
	t.last[deviceID] = now
	return true
}
