package server

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/store"
)

// deviceService implements sealinev1connect.DeviceServiceHandler.
type deviceService struct{ s *Server }

// ListDevices returns the account's devices with their decrypted names.
func (d deviceService) ListDevices(ctx context.Context, _ *connect.Request[sealinev1.ListDevicesRequest]) (*connect.Response[sealinev1.ListDevicesResponse], error) {
	devices, err := d.s.devices(ctx, callerOf(ctx))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sealinev1.ListDevicesResponse{Devices: devices}), nil
}

// devices loads and decrypts the caller's devices, oldest first.
func (s *Server) devices(ctx context.Context, c caller) ([]*sealinev1.Device, error) {
	list, err := s.store.ListDevices(ctx, c.userID)
	if err != nil {
		return nil, s.errInternal(ctx, "list devices", err)
	}
	dk, err := s.keys.DataKey(ctx, s.store.Keys(), c.userID)
	if err != nil {
		return nil, s.errInternal(ctx, "load data key", err)
	}
	out := make([]*sealinev1.Device, 0, len(list))
	for _, dev := range list {
		name, err := pii.Open(dk, dev.ID, fieldDeviceName, dev.NameEnc)
		if err != nil {
			return nil, s.errInternal(ctx, "open device name", err)
		}
		out = append(out, deviceProto(dev, string(name), dev.ID == c.deviceID))
	}
	return out, nil
}

func deviceProto(d store.Device, name string, current bool) *sealinev1.Device {
	return &sealinev1.Device{
		Id:           d.ID,
		Name:         name,
		CreatedAt:    timestamppb.New(d.CreatedAt),
		LastSeenAt:   timestamppb.New(d.LastSeenAt),
		Current:      current,
		SignatureKey: d.SignatureKey,
	}
}

// RevokeDevice ends another (or the calling) device's session at once.
func (d deviceService) RevokeDevice(ctx context.Context, req *connect.Request[sealinev1.RevokeDeviceRequest]) (*connect.Response[sealinev1.RevokeDeviceResponse], error) {
	s, c := d.s, callerOf(ctx)
	if err := validateRevoke(req.Msg); err != nil {
		return nil, err
	}
	leaves := s.leavesOfDevice(ctx, c.userID, req.Msg.GetDeviceId())
	err := s.store.RevokeDevice(ctx, c.userID, req.Msg.GetDeviceId())
	if errors.Is(err, store.ErrNotFound) {
		return nil, apiError(connect.CodeNotFound, ReasonDeviceNotFound, "device_id", time.Time{})
	}
	if err != nil {
		return nil, s.errInternal(ctx, "revoke device", err)
	}
	s.cfg.Notifier.Notify(c.userID)
	// The server proposes the device's removal from its groups (as their
	// external sender); a remaining member commits it.
	removals, failures := s.removeDevices(context.WithoutCancel(ctx), leaves)
	s.logger(ctx).Info("device revoked", "user_id", c.userID, "device_id", req.Msg.GetDeviceId(),
		"remove_proposals", removals, "remove_proposal_failures", failures)
	return connect.NewResponse(&sealinev1.RevokeDeviceResponse{}), nil
}

// Ping is an authenticated no-op.
func (d deviceService) Ping(context.Context, *connect.Request[sealinev1.PingRequest]) (*connect.Response[sealinev1.PingResponse], error) {
	return connect.NewResponse(&sealinev1.PingResponse{ServerTime: timestamppb.New(d.s.now())}), nil
}

// WatchDevices streams device changes of the account. It re-reads the store
// whenever the Notifier hints at a change (and every WatchPoll in any case),
// re-checking the caller's own session first: a revoked caller's stream
// ends with unauthenticated/session_revoked.
func (d deviceService) WatchDevices(ctx context.Context, _ *connect.Request[sealinev1.WatchDevicesRequest], stream *connect.ServerStream[sealinev1.WatchDevicesResponse]) error {
	s, c := d.s, callerOf(ctx)
	wake, cancel := s.cfg.Notifier.Subscribe(c.userID)
	defer cancel()
	known, err := s.devices(ctx, c)
	if err != nil {
		return err
	}
	if err := stream.Send(&sealinev1.WatchDevicesResponse{Kind: sealinev1.WatchDevicesResponse_KIND_READY}); err != nil {
		return err
	}
	tick := time.NewTicker(s.cfg.WatchPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopping:
			return errReason(connect.CodeUnavailable, ReasonShuttingDown)
		case <-wake:
		case <-tick.C:
		}
		if known, err = s.watchStep(ctx, c, known, stream); err != nil {
			return err
		}
	}
}

// watchStep re-checks the session, then sends what changed since known.
func (s *Server) watchStep(ctx context.Context, c caller, known []*sealinev1.Device, stream *connect.ServerStream[sealinev1.WatchDevicesResponse]) ([]*sealinev1.Device, error) {
	if err := s.sessionAlive(ctx, c); err != nil {
		return nil, err
	}
	now, err := s.devices(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, ev := range deviceEvents(known, now) {
		if err := stream.Send(ev); err != nil {
			return nil, err
		}
	}
	return now, nil
}

// deviceEvents lists devices added in now and revoked since before.
func deviceEvents(before, now []*sealinev1.Device) []*sealinev1.WatchDevicesResponse {
	had, has := map[string]bool{}, map[string]bool{}
	for _, d := range before {
		had[d.GetId()] = true
	}
	var out []*sealinev1.WatchDevicesResponse
	for _, d := range now {
		has[d.GetId()] = true
		if !had[d.GetId()] {
			out = append(out, &sealinev1.WatchDevicesResponse{Kind: sealinev1.WatchDevicesResponse_KIND_DEVICE_ADDED, Device: d})
		}
	}
	for _, d := range before {
		if !has[d.GetId()] {
			out = append(out, &sealinev1.WatchDevicesResponse{Kind: sealinev1.WatchDevicesResponse_KIND_DEVICE_REVOKED, Device: d})
		}
	}
	return out
}
