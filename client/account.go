package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// RegisterParams are the inputs of Register.
type RegisterParams struct {
	Username    string
	Password    string
	DisplayName string // optional
	DeviceName  string // shown in device lists, e.g. "laptop"
}

// LoginParams are the inputs of Login.
type LoginParams struct {
	Username   string
	Password   string
	DeviceName string
}

// Register creates an account with this client as its first device and
// stores the session. It refuses with ErrAlreadyLoggedIn if the home
// directory already holds a session.
func (c *Client) Register(ctx context.Context, p RegisterParams) (Session, error) {
	return c.enroll(ctx, func(ctx context.Context, dev *sealinev1.NewDevice) (*sealinev1.Session, string, error) {
		resp, err := c.accounts.Register(ctx, connect.NewRequest(&sealinev1.RegisterRequest{
			Username: p.Username, Password: p.Password, DisplayName: p.DisplayName, Device: dev,
		}))
		if err != nil {
			return nil, "", err
		}
		return resp.Msg.GetSession(), resp.Msg.GetUsername(), nil
	}, p.DeviceName)
}

// Login creates a new device for an existing account and stores its session.
func (c *Client) Login(ctx context.Context, p LoginParams) (Session, error) {
	return c.enroll(ctx, func(ctx context.Context, dev *sealinev1.NewDevice) (*sealinev1.Session, string, error) {
		resp, err := c.accounts.Login(ctx, connect.NewRequest(&sealinev1.LoginRequest{
			Username: p.Username, Password: p.Password, Device: dev,
		}))
		if err != nil {
			return nil, "", err
		}
		return resp.Msg.GetSession(), p.Username, nil // as typed: Login does not return the normalised form
	}, p.DeviceName)
}

// enrollFunc sends a Register or Login for dev and returns the new session
// and the username to remember.
type enrollFunc func(ctx context.Context, dev *sealinev1.NewDevice) (*sealinev1.Session, string, error)

// enroll generates a device key, runs call, and saves the session.
func (c *Client) enroll(ctx context.Context, call enrollFunc, deviceName string) (Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session != nil || c.home.exists() { // LoggedIn, under the same lock
		return Session{}, fmt.Errorf("%w: %s holds a session", ErrAlreadyLoggedIn, c.home.dir)
	}
	if err := c.home.mkdir(); err != nil { // before the server creates anything
		return Session{}, err
	}
	pub, priv, err := ed25519.GenerateKey(c.rand)
	if err != nil {
		return Session{}, fmt.Errorf("device key: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ps, name, err := call(ctx, &sealinev1.NewDevice{Name: deviceName, SignatureKey: pub})
	if err != nil {
		return Session{}, mapError(err)
	}
	if ps.GetToken() == "" || ps.GetDeviceId() == "" {
		return Session{}, errors.New("server returned no session")
	}
	s := Session{
		Server: c.server, Username: name, UserID: ps.GetUserId(), DeviceID: ps.GetDeviceId(),
		Token: ps.GetToken(), ExpiresAt: ps.GetExpiresAt().AsTime(), Version: stateVersion,
	}
	if err := c.home.save(s, priv); err != nil {
		return Session{}, err
	}
	c.session, c.key = &s, priv
	return s, nil
}

// Logout ends this device's session on the server and deletes the local
// state. If the server had already ended the session, Logout still clears
// the local state and returns nil. Other failures keep the state so the
// call can be retried.
func (c *Client) Logout(ctx context.Context) error {
	req := connect.NewRequest(&sealinev1.LogoutRequest{})
	if err := authorize(c, req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err := c.accounts.Logout(ctx, req)
	if err = mapError(err); err != nil && !errors.Is(err, ErrSessionInvalid) {
		return err
	}
	return c.forget()
}

// ChangePassword replaces the account's password. The server revokes every
// other device; the count is returned.
func (c *Client) ChangePassword(ctx context.Context, current, next string) (revoked int, err error) {
	req := connect.NewRequest(&sealinev1.ChangePasswordRequest{CurrentPassword: current, NewPassword: next})
	resp, err := call(ctx, c, req, c.accounts.ChangePassword)
	if err != nil {
		return 0, err
	}
	return int(resp.GetRevokedDevices()), nil
}

// DeviceKey returns this device's Ed25519 signing key, or ErrNotLoggedIn.
func (c *Client) DeviceKey() (ed25519.PrivateKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.loadLocked(); err != nil {
		return nil, err
	}
	return c.key, nil
}

// call runs one authenticated unary RPC with the client's timeout and maps
// its error. A refusal with ErrSessionInvalid also clears the local state.
func call[Req, Resp any](ctx context.Context, c *Client, req *connect.Request[Req],
	rpc func(context.Context, *connect.Request[Req]) (*connect.Response[Resp], error)) (*Resp, error) {
	if err := authorize(c, req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := rpc(ctx, req)
	if err != nil {
		return nil, c.refused(mapError(err))
	}
	return resp.Msg, nil
}

// refused clears the local state when err says the session is gone.
func (c *Client) refused(err error) error {
	if errors.Is(err, ErrSessionInvalid) {
		if cerr := c.forget(); cerr != nil {
			return errors.Join(err, cerr)
		}
	}
	return err
}
