package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
)

// fakeServer is a small in-memory implementation of the v1 API, enough to
// exercise the client: passwords in plaintext, no limits, no persistence.
type fakeServer struct {
	mu       sync.Mutex
	users    map[string]string // username -> password
	devices  map[string]*fakeDevice
	tokens   map[string]string // token -> device id
	watchers map[chan *sealinev1.WatchDevicesResponse]string
	// refuse, when set, is returned by Login (to test error mapping).
	refuse error
	// silentWatch makes WatchDevices hang without sending READY.
	silentWatch bool
}

type fakeDevice struct {
	id, user, name string
	key            []byte
	created        time.Time
}

func newFakeServer() *fakeServer {
	return &fakeServer{
		users: map[string]string{}, devices: map[string]*fakeDevice{}, tokens: map[string]string{},
		watchers: map[chan *sealinev1.WatchDevicesResponse]string{},
	}
}

// start serves f over TLS 1.3 and HTTP/2 and returns its URL and CA PEM.
func (f *fakeServer) start(t *testing.T, maxTLS uint16) (string, []byte) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(sealinev1connect.NewAccountServiceHandler(f))
	mux.Handle(sealinev1connect.NewDeviceServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{MaxVersion: maxTLS}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return srv.URL, ca
}

func refusal(code connect.Code, reason string, retry time.Time) error {
	e := connect.NewError(code, errors.New(reason))
	d := &sealinev1.ErrorDetail{Reason: reason}
	if !retry.IsZero() {
		d.RetryAfter = timestamppb.New(retry)
	}
	if det, err := connect.NewErrorDetail(d); err == nil {
		e.AddDetail(det)
	}
	return e
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newDevice adds a device and its token. f.mu must be held.
func (f *fakeServer) newDevice(user string, nd *sealinev1.NewDevice) *sealinev1.Session {
	d := &fakeDevice{id: randomID(), user: user, name: nd.GetName(), key: nd.GetSignatureKey(), created: time.Now()}
	tok := randomID()
	f.devices[d.id], f.tokens[tok] = d, d.id
	f.broadcast(user, sealinev1.WatchDevicesResponse_KIND_DEVICE_ADDED, d)
	return &sealinev1.Session{UserId: user, DeviceId: d.id, Token: tok, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}
}

func (f *fakeServer) broadcast(user string, kind sealinev1.WatchDevicesResponse_Kind, d *fakeDevice) {
	for ch, u := range f.watchers {
		if u == user {
			ch <- &sealinev1.WatchDevicesResponse{Kind: kind, Device: &sealinev1.Device{Id: d.id, Name: d.name}}
		}
	}
}

// auth returns the caller's device. f.mu must be held.
func (f *fakeServer) auth(h http.Header) (*fakeDevice, error) {
	tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if d := f.devices[f.tokens[tok]]; ok && d != nil {
		return d, nil
	}
	return nil, refusal(connect.CodeUnauthenticated, "session_invalid", time.Time{})
}

func (f *fakeServer) Register(_ context.Context, r *connect.Request[sealinev1.RegisterRequest]) (*connect.Response[sealinev1.RegisterResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := strings.ToLower(r.Msg.GetUsername())
	if _, ok := f.users[name]; ok {
		return nil, refusal(connect.CodeAlreadyExists, "username_taken", time.Time{})
	}
	if len(r.Msg.GetPassword()) < 8 {
		return nil, refusal(connect.CodeInvalidArgument, "password_weak", time.Time{})
	}
	f.users[name] = r.Msg.GetPassword()
	s := f.newDevice(name, r.Msg.GetDevice())
	return connect.NewResponse(&sealinev1.RegisterResponse{Session: s, Username: name}), nil
}

func (f *fakeServer) Login(_ context.Context, r *connect.Request[sealinev1.LoginRequest]) (*connect.Response[sealinev1.LoginResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	name := strings.ToLower(r.Msg.GetUsername())
	if pw, ok := f.users[name]; !ok || pw != r.Msg.GetPassword() {
		return nil, refusal(connect.CodeUnauthenticated, "bad_credentials", time.Time{})
	}
	return connect.NewResponse(&sealinev1.LoginResponse{Session: f.newDevice(name, r.Msg.GetDevice())}), nil
}

func (f *fakeServer) ChangePassword(_ context.Context, r *connect.Request[sealinev1.ChangePasswordRequest]) (*connect.Response[sealinev1.ChangePasswordResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.auth(r.Header())
	if err != nil {
		return nil, err
	}
	if f.users[d.user] != r.Msg.GetCurrentPassword() {
		return nil, refusal(connect.CodeUnauthenticated, "bad_credentials", time.Time{})
	}
	f.users[d.user] = r.Msg.GetNewPassword()
	n := 0
	for _, o := range f.devices {
		if o.user == d.user && o.id != d.id {
			f.revoke(o)
			n++
		}
	}
	return connect.NewResponse(&sealinev1.ChangePasswordResponse{RevokedDevices: int32(n)}), nil
}

// revoke deletes d and its tokens. f.mu must be held.
func (f *fakeServer) revoke(d *fakeDevice) {
	delete(f.devices, d.id)
	for tok, id := range f.tokens {
		if id == d.id {
			delete(f.tokens, tok)
		}
	}
	f.broadcast(d.user, sealinev1.WatchDevicesResponse_KIND_DEVICE_REVOKED, d)
}

func (f *fakeServer) Logout(_ context.Context, r *connect.Request[sealinev1.LogoutRequest]) (*connect.Response[sealinev1.LogoutResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.auth(r.Header())
	if err != nil {
		return nil, err
	}
	f.revoke(d)
	return connect.NewResponse(&sealinev1.LogoutResponse{}), nil
}

func (f *fakeServer) ListDevices(_ context.Context, r *connect.Request[sealinev1.ListDevicesRequest]) (*connect.Response[sealinev1.ListDevicesResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	me, err := f.auth(r.Header())
	if err != nil {
		return nil, err
	}
	resp := &sealinev1.ListDevicesResponse{}
	for _, d := range f.devices {
		if d.user == me.user {
			resp.Devices = append(resp.Devices, &sealinev1.Device{
				Id: d.id, Name: d.name, Current: d.id == me.id, SignatureKey: d.key,
				CreatedAt: timestamppb.New(d.created), LastSeenAt: timestamppb.New(d.created),
			})
		}
	}
	return connect.NewResponse(resp), nil
}

func (f *fakeServer) RevokeDevice(_ context.Context, r *connect.Request[sealinev1.RevokeDeviceRequest]) (*connect.Response[sealinev1.RevokeDeviceResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	me, err := f.auth(r.Header())
	if err != nil {
		return nil, err
	}
	d := f.devices[r.Msg.GetDeviceId()]
	if d == nil || d.user != me.user {
		return nil, refusal(connect.CodeNotFound, "device_not_found", time.Time{})
	}
	f.revoke(d)
	return connect.NewResponse(&sealinev1.RevokeDeviceResponse{}), nil
}

func (f *fakeServer) WatchDevices(ctx context.Context, r *connect.Request[sealinev1.WatchDevicesRequest], st *connect.ServerStream[sealinev1.WatchDevicesResponse]) error {
	f.mu.Lock()
	me, err := f.auth(r.Header())
	silent := f.silentWatch
	ch := make(chan *sealinev1.WatchDevicesResponse, 16)
	if err == nil {
		f.watchers[ch] = me.user
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() { f.mu.Lock(); delete(f.watchers, ch); f.mu.Unlock() }()
	if silent {
		<-ctx.Done()
		return nil
	}
	if err := st.Send(&sealinev1.WatchDevicesResponse{Kind: sealinev1.WatchDevicesResponse_KIND_READY}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ch:
			if err := st.Send(ev); err != nil {
				return err
			}
			if ev.GetKind() == sealinev1.WatchDevicesResponse_KIND_DEVICE_REVOKED && ev.GetDevice().GetId() == me.id {
				return refusal(connect.CodeUnauthenticated, "session_revoked", time.Time{})
			}
		}
	}
}

func (f *fakeServer) Ping(_ context.Context, r *connect.Request[sealinev1.PingRequest]) (*connect.Response[sealinev1.PingResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.auth(r.Header()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&sealinev1.PingResponse{ServerTime: timestamppb.Now()}), nil
}
