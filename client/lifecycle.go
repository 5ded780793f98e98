package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
)

// ContactKind names an optional contact attribute of the account.
type ContactKind int

// Contact kinds.
const (
	Phone ContactKind = ContactKind(sealinev1.ContactKind_CONTACT_KIND_PHONE)
	Email ContactKind = ContactKind(sealinev1.ContactKind_CONTACT_KIND_EMAIL)
)

// String names the kind: "phone" or "email".
func (k ContactKind) String() string {
	if k == Phone {
		return "phone"
	}
	return "email"
}

// Lifecycle refusals, matched from the server's reason.
var (
	// ErrContactInvalid: the phone number or email address is malformed.
	ErrContactInvalid = errors.New("malformed phone number or email address")
	// ErrContactNotSet: there is no such contact attribute to clear.
	ErrContactNotSet = errors.New("no such contact attribute is set")
)

// lifecycle returns a LifecycleService client over the client's HTTP client.
func (c *Client) lifecycle() sealinev1connect.LifecycleServiceClient {
	return sealinev1connect.NewLifecycleServiceClient(c.hc, c.server, connect.WithReadMaxBytes(maxResponseBytes))
}

// lifecycleError maps the lifecycle reasons onto their sentinels.
func lifecycleError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		switch e.Reason {
		case "phone_invalid", "email_invalid":
			return fmt.Errorf("%w: %w", ErrContactInvalid, err)
		case "contact_not_set":
			return fmt.Errorf("%w: %w", ErrContactNotSet, err)
		}
	}
	return err
}

// SetContact sets the account's phone number or email address and returns
// the stored, normalised form (E.164, or the lower-cased address).
func (c *Client) SetContact(ctx context.Context, kind ContactKind, value string) (string, error) {
	req := connect.NewRequest(&sealinev1.SetContactRequest{Kind: sealinev1.ContactKind(kind), Value: value})
	resp, err := call(ctx, c, req, c.lifecycle().SetContact)
	if err != nil {
		return "", lifecycleError(err)
	}
	return resp.GetNormalized(), nil
}

// ClearContact removes the account's phone number or email address.
func (c *Client) ClearContact(ctx context.Context, kind ContactKind) error {
	req := connect.NewRequest(&sealinev1.ClearContactRequest{Kind: sealinev1.ContactKind(kind)})
	_, err := call(ctx, c, req, c.lifecycle().ClearContact)
	return lifecycleError(err)
}

// Withdrawal counts what DeleteAccount removed on the server.
type Withdrawal struct {
	Devices, KeyPackages, QueuedMessages, Blobs int64
}

// DeleteAccount withdraws the account for good, after the server checks
// the password again, and then deletes this device's local state.
func (c *Client) DeleteAccount(ctx context.Context, password string) (Withdrawal, error) {
	req := connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: password})
	resp, err := call(ctx, c, req, c.lifecycle().DeleteAccount)
	if err != nil {
		return Withdrawal{}, err
	}
	w := Withdrawal{Devices: resp.GetDevices(), KeyPackages: resp.GetKeyPackages(),
		QueuedMessages: resp.GetQueuedMessages(), Blobs: resp.GetBlobs()}
	return w, c.forget()
}

// AccountExport is what the server holds about the account, opened.
type AccountExport struct {
	UserID          string     `json:"user_id"`
	Username        string     `json:"username"`
	DisplayName     string     `json:"display_name"`
	CreatedAt       time.Time  `json:"created_at"`
	Phone           string     `json:"phone,omitempty"`
	Email           string     `json:"email,omitempty"`
	Devices         []Device   `json:"devices"`
	ConversationIDs []string   `json:"conversation_ids"`
	BlobBytes       int64      `json:"blob_bytes"`
	FailedLogins    int64      `json:"failed_logins"`
	LockedUntil     *time.Time `json:"locked_until,omitempty"`
}

// ExportAccount fetches the account's profile, devices and settings.
func (c *Client) ExportAccount(ctx context.Context) (AccountExport, error) {
	resp, err := call(ctx, c, connect.NewRequest(&sealinev1.ExportAccountRequest{}), c.lifecycle().ExportAccount)
	if err != nil {
		return AccountExport{}, err
	}
	x := AccountExport{
		UserID: resp.GetUserId(), Username: resp.GetUsername(), DisplayName: resp.GetDisplayName(),
		CreatedAt: resp.GetCreatedAt().AsTime(), Phone: resp.GetPhone(), Email: resp.GetEmail(),
		ConversationIDs: resp.GetConversationIds(), BlobBytes: resp.GetBlobBytes(), FailedLogins: resp.GetFailedLogins(),
	}
	if resp.GetLockedUntil() != nil {
		t := resp.GetLockedUntil().AsTime()
		x.LockedUntil = &t
	}
	for _, d := range resp.GetDevices() {
		x.Devices = append(x.Devices, deviceFromProto(d))
	}
	return x, nil
}
