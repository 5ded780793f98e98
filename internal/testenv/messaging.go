package testenv

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/mls"
)

// Device is a logged-in device with its Ed25519 signature key, as the
// client SDK keeps it; its MLS signature key is the same key.
type Device struct {
	UserID   string
	DeviceID string
	Token    string
	Key      ed25519.PrivateKey
}

// RegisterDevice creates an account and returns its first device.
func (e *Env) RegisterDevice(t testing.TB, user, pw, device string) Device {
	t.Helper()
	nd, key := newDeviceKey(device)
	resp, err := e.Accounts().Register(context.Background(), connect.NewRequest(&sealinev1.RegisterRequest{
		Username: user, Password: pw, DisplayName: user, Device: nd,
	}))
	if err != nil {
		t.Fatalf("testenv: register: %v", err)
	}
	return deviceOf(resp.Msg.GetSession(), key)
}

// LoginDevice logs a new device into an account.
func (e *Env) LoginDevice(t testing.TB, user, pw, device string) Device {
	t.Helper()
	nd, key := newDeviceKey(device)
	resp, err := e.Accounts().Login(context.Background(), connect.NewRequest(&sealinev1.LoginRequest{
		Username: user, Password: pw, Device: nd,
	}))
	if err != nil {
		t.Fatalf("testenv: login: %v", err)
	}
	return deviceOf(resp.Msg.GetSession(), key)
}

func newDeviceKey(name string) (*sealinev1.NewDevice, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return &sealinev1.NewDevice{Name: name, SignatureKey: pub}, priv
}

func deviceOf(s *sealinev1.Session, key ed25519.PrivateKey) Device {
	return Device{UserID: s.GetUserId(), DeviceID: s.GetDeviceId(), Token: s.GetToken(), Key: key}
}

// Identity is the device's MLS credential identity, "<user_id>/<device_id>".
func (d Device) Identity() []byte { return []byte(d.UserID + "/" + d.DeviceID) }

// SignatureKey is the device's Ed25519 key as an MLS signature key of cs
// (an Ed25519 suite).
func (d Device) SignatureKey(t testing.TB, cs mls.CipherSuite) *mls.SignaturePrivateKey {
	t.Helper()
	k, err := cs.NewSignaturePrivateKey(d.Key.Seed())
	if err != nil {
		t.Fatalf("testenv: signature key: %v", err)
	}
	return k
}

// KeyPackage makes a fresh KeyPackage of the device in suite cs, signed
// with its registered key and valid for 30 days.
func (d Device) KeyPackage(t testing.TB, cs mls.CipherSuite) (*mls.KeyPackage, *mls.KeyPackagePrivate) {
	t.Helper()
	kp, priv, err := mls.NewKeyPackage(mls.KeyPackageParams{
		CipherSuite:  cs,
		Credential:   mls.Credential{Type: mls.CredentialBasic, Identity: d.Identity()},
		SignatureKey: d.SignatureKey(t, cs),
		Lifetime:     mls.LifetimeFrom(time.Now(), time.Hour, 30*24*time.Hour),
		Rand:         rand.Reader,
	})
	if err != nil {
		t.Fatalf("testenv: key package: %v", err)
	}
	return kp, priv
}

// Wire returns an MLS object wrapped as an MLSMessage: a *mls.KeyPackage.
func Wire(t testing.TB, kp *mls.KeyPackage) []byte {
	t.Helper()
	b, err := (&mls.MLSMessage{WireFormat: mls.WireFormatKeyPackage, KeyPackage: kp}).Marshal()
	if err != nil {
		t.Fatalf("testenv: marshal key package: %v", err)
	}
	return b
}

// KeyPackages returns a KeyPackageService client sending token.
func (e *Env) KeyPackages(token string, opts ...connect.ClientOption) sealinev1connect.KeyPackageServiceClient {
	return sealinev1connect.NewKeyPackageServiceClient(e.HTTP, e.URL, append(opts, WithToken(token))...)
}

// Conversations returns a ConversationService client sending token.
func (e *Env) Conversations(token string, opts ...connect.ClientOption) sealinev1connect.ConversationServiceClient {
	return sealinev1connect.NewConversationServiceClient(e.HTTP, e.URL, append(opts, WithToken(token))...)
}

// Messages returns a MessageService client sending token.
func (e *Env) Messages(token string, opts ...connect.ClientOption) sealinev1connect.MessageServiceClient {
	return sealinev1connect.NewMessageServiceClient(e.HTTP, e.URL, append(opts, WithToken(token))...)
}

// Blobs returns a BlobService client sending token.
func (e *Env) Blobs(token string, opts ...connect.ClientOption) sealinev1connect.BlobServiceClient {
	return sealinev1connect.NewBlobServiceClient(e.HTTP, e.URL, append(opts, WithToken(token))...)
}
