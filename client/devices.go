package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

// Device is one active device of the account.
type Device struct {
	ID           string
	Name         string
	CreatedAt    time.Time
	LastSeenAt   time.Time
	Current      bool // the device making the request
	SignatureKey ed25519.PublicKey
}

// EventKind says what happened to a device.
type EventKind int

// Event kinds.
const (
	DeviceAdded EventKind = iota + 1
	DeviceRevoked
)

func (k EventKind) String() string {
	switch k {
	case DeviceAdded:
		return "device_added"
	case DeviceRevoked:
		return "device_revoked"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// DeviceEvent is a security event of the account.
type DeviceEvent struct {
	Kind   EventKind
	Device Device
}

// Devices lists the account's active devices.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	resp, err := call(ctx, c, connect.NewRequest(&sealinev1.ListDevicesRequest{}), c.devices.ListDevices)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(resp.GetDevices()))
	for _, d := range resp.GetDevices() {
		out = append(out, deviceFromProto(d))
	}
	return out, nil
}

// RevokeDevice ends another device's session at once (remote logout).
// Revoking this client's own device ends its session and clears the
// local state, like Logout.
func (c *Client) RevokeDevice(ctx context.Context, id string) error {
	_, err := call(ctx, c, connect.NewRequest(&sealinev1.RevokeDeviceRequest{DeviceId: id}), c.devices.RevokeDevice)
	if err != nil {
		return err
	}
	if s, serr := c.Session(); serr == nil && s.DeviceID == id {
		return c.forget()
	}
	return nil
}

// Ping checks the session and returns the server's clock.
func (c *Client) Ping(ctx context.Context) (time.Time, error) {
	resp, err := call(ctx, c, connect.NewRequest(&sealinev1.PingRequest{}), c.devices.Ping)
	if err != nil {
		return time.Time{}, err
	}
	return resp.GetServerTime().AsTime(), nil
}

// DeviceWatch is an open stream of device events. Close it when done.
type DeviceWatch struct {
	c      *Client
	stream *connect.ServerStreamForClient[sealinev1.WatchDevicesResponse]
	cancel context.CancelFunc
}

// WatchDevices opens the account's security event stream and returns once
// the server has confirmed it is open (within the client's Timeout), so no
// later event is missed. The stream lives until ctx is done, Close is
// called, or the session ends.
func (c *Client) WatchDevices(ctx context.Context) (*DeviceWatch, error) {
	req := connect.NewRequest(&sealinev1.WatchDevicesRequest{})
	if err := authorize(c, req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	opening := time.AfterFunc(c.timeout, cancel)
	stream, err := c.devices.WatchDevices(ctx, req)
	if err != nil {
		cancel()
		return nil, c.refused(mapError(err))
	}
	w := &DeviceWatch{c: c, stream: stream, cancel: cancel}
	if !stream.Receive() {
		err := w.end()
		cancel()
		return nil, err
	}
	opening.Stop()
	if k := stream.Msg().GetKind(); k != sealinev1.WatchDevicesResponse_KIND_READY {
		w.Close()
		return nil, fmt.Errorf("watch devices: first event is %v, want ready", k)
	}
	return w, nil
}

// Next blocks for the next event. It returns io.EOF when the server ends the
// stream cleanly and ErrSessionInvalid when this device was revoked.
func (w *DeviceWatch) Next() (DeviceEvent, error) {
	for w.stream.Receive() {
		msg := w.stream.Msg()
		var kind EventKind
		switch msg.GetKind() {
		case sealinev1.WatchDevicesResponse_KIND_DEVICE_ADDED:
			kind = DeviceAdded
		case sealinev1.WatchDevicesResponse_KIND_DEVICE_REVOKED:
			kind = DeviceRevoked
		default:
			continue // READY again or a kind newer than this client
		}
		return DeviceEvent{Kind: kind, Device: deviceFromProto(msg.GetDevice())}, nil
	}
	return DeviceEvent{}, w.end()
}

// end closes the stream and returns why it ended (io.EOF when cleanly).
func (w *DeviceWatch) end() error {
	err := w.stream.Err()
	cerr := w.stream.Close()
	if err == nil && cerr == nil {
		return io.EOF
	}
	if err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return w.c.refused(mapError(err))
}

// Close ends the stream.
func (w *DeviceWatch) Close() error {
	w.cancel()
	return w.stream.Close()
}

func deviceFromProto(d *sealinev1.Device) Device {
	out := Device{
		ID: d.GetId(), Name: d.GetName(), Current: d.GetCurrent(),
		SignatureKey: ed25519.PublicKey(d.GetSignatureKey()),
	}
	if d.GetCreatedAt() != nil {
		out.CreatedAt = d.GetCreatedAt().AsTime()
	}
	if d.GetLastSeenAt() != nil {
		out.LastSeenAt = d.GetLastSeenAt().AsTime()
	}
	return out
}
