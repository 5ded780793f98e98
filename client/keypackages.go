package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/crypto/cryptobyte"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/client/localstore"
	"github.com/sealine/sealine/mls"
)

// KeyPackage lifetime: valid from an hour ago (clock skew) for 90 days.
const (
	keyPackageSkew     = time.Hour
	keyPackageLifetime = 90 * 24 * time.Hour
)

// identity is the MLS BasicCredential identity of a device.
func identity(m Member) []byte { return []byte(m.UserID + "/" + m.DeviceID) }

// parseIdentity reads "<user_id>/<device_id>" from a credential.
func parseIdentity(c mls.Credential) (Member, bool) {
	if c.Type != mls.CredentialBasic {
		return Member{}, false
	}
	user, device, ok := strings.Cut(string(c.Identity), "/")
	if !ok || user == "" || device == "" || strings.Contains(device, "/") {
		return Member{}, false
	}
	return Member{user, device}, true
}

// newKeyPackage creates a KeyPackage for this device and returns its
// MLSMessage encoding and the local record of its private keys.
func (m *Messenger) newKeyPackage(lastResort bool) ([]byte, localstore.KeyPackage, error) {
	kp, priv, err := mls.NewKeyPackage(mls.KeyPackageParams{
		CipherSuite:  m.cfg.Suite,
		Credential:   mls.Credential{Type: mls.CredentialBasic, Identity: identity(m.me)},
		SignatureKey: m.sig,
		Lifetime:     mls.LifetimeFrom(m.now(), keyPackageSkew, keyPackageLifetime),
		Rand:         m.c.rand,
	})
	if err != nil {
		return nil, localstore.KeyPackage{}, fmt.Errorf("key package: %w", err)
	}
	wire, err := (&mls.MLSMessage{WireFormat: mls.WireFormatKeyPackage, KeyPackage: kp}).Marshal()
	if err != nil {
		return nil, localstore.KeyPackage{}, fmt.Errorf("key package: %w", err)
	}
	ref, err := kp.Ref()
	if err != nil {
		return nil, localstore.KeyPackage{}, fmt.Errorf("key package: %w", err)
	}
	sealed, err := marshalKeyPackagePrivate(kp, priv)
	if err != nil {
		return nil, localstore.KeyPackage{}, err
	}
	return wire, localstore.KeyPackage{Ref: ref, LastResort: lastResort, Private: sealed}, nil
}

// marshalKeyPackagePrivate encodes what joining needs:
// key_package<uint24> | init_key<uint16> | encryption_key<uint16>.
func marshalKeyPackagePrivate(kp *mls.KeyPackage, priv *mls.KeyPackagePrivate) ([]byte, error) {
	raw, err := kp.Marshal()
	if err != nil {
		return nil, err
	}
	initKey, err := priv.InitKey.Bytes()
	if err != nil {
		return nil, err
	}
	encKey, err := priv.EncryptionKey.Bytes()
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(raw) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(initKey) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(encKey) })
	return b.Bytes()
}

var errBadKeyPackageRecord = errors.New("malformed key package record")

// parseKeyPackagePrivate decodes marshalKeyPackagePrivate's output.
func parseKeyPackagePrivate(data []byte) (*mls.KeyPackage, *mls.KeyPackagePrivate, error) {
	s := cryptobyte.String(data)
	var raw, initKey, encKey cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&raw) || !s.ReadUint16LengthPrefixed(&initKey) ||
		!s.ReadUint16LengthPrefixed(&encKey) || !s.Empty() {
		return nil, nil, errBadKeyPackageRecord
	}
	kp, err := mls.ParseKeyPackage(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errBadKeyPackageRecord, err)
	}
	ik, err := kp.CipherSuite.NewHPKEPrivateKey(initKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errBadKeyPackageRecord, err)
	}
	ek, err := kp.CipherSuite.NewHPKEPrivateKey(encKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errBadKeyPackageRecord, err)
	}
	return kp, &mls.KeyPackagePrivate{InitKey: ik, EncryptionKey: ek}, nil
}

// TopUpKeyPackages asks how many one-time KeyPackages the server holds for
// this device and uploads fresh ones (and a last-resort one if missing)
// when fewer than half of MessengerConfig.KeyPackages are left. The
// private keys are stored before the upload, so a lost reply costs
// nothing but disk.
func (m *Messenger) TopUpKeyPackages(ctx context.Context) (available int, err error) {
	st, err := call(ctx, m.c, connect.NewRequest(&sealinev1.KeyPackageStatusRequest{}), m.kps.KeyPackageStatus)
	if err != nil {
		return 0, fmt.Errorf("key package status: %w", rpcErr(err))
	}
	n := m.cfg.KeyPackages - int(st.GetAvailable())
	lastResort := !st.GetHasLastResort() || m.lastResortOld()
	if int(st.GetAvailable()) >= m.cfg.KeyPackages/2 && !lastResort {
		return int(st.GetAvailable()), nil
	}
	req := &sealinev1.UploadKeyPackagesRequest{}
	var recs []localstore.KeyPackage
	for range max(n, 0) {
		wire, rec, err := m.newKeyPackage(false)
		if err != nil {
			return 0, err
		}
		req.KeyPackages, recs = append(req.KeyPackages, wire), append(recs, rec)
	}
	if lastResort {
		wire, rec, err := m.newKeyPackage(true)
		if err != nil {
			return 0, err
		}
		req.LastResort, recs = wire, append(recs, rec)
	}
	if err := m.saveKeyPackages(recs); err != nil {
		return 0, err
	}
	resp, err := call(ctx, m.c, connect.NewRequest(req), m.kps.UploadKeyPackages)
	if err != nil {
		return 0, fmt.Errorf("upload key packages: %w", rpcErr(err))
	}
	return int(resp.GetAvailable()), nil
}

// saveKeyPackages stores new private keys and forgets those whose
// KeyPackages expired a week ago (a Welcome to them can no longer be
// valid, even one still queued).
func (m *Messenger) saveKeyPackages(recs []localstore.KeyPackage) error {
	return m.store.Update(func(tx *localstore.Tx) error {
		if _, err := tx.DeleteKeyPackagesBefore(m.now().Add(-keyPackageLifetime - 7*24*time.Hour)); err != nil {
			return err
		}
		for _, rec := range recs {
			if err := tx.PutKeyPackage(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// lastResortOld reports whether the last-resort KeyPackage has used a
// third of its lifetime, so that claimers never get an expired one.
func (m *Messenger) lastResortOld() bool {
	var created time.Time
	m.store.View(func(tx *localstore.Tx) error {
		created, _ = tx.LastResortCreated()
		return nil
	})
	return m.now().Sub(created) > keyPackageLifetime/3
}

// claimed is a validated KeyPackage of another device.
type claimed struct {
	member Member
	kp     *mls.KeyPackage
}

// claim fetches one KeyPackage for every device of a user (by username or
// user id), checks each and remembers the username. Devices whose
// KeyPackage is for another suite are skipped.
func (m *Messenger) claim(ctx context.Context, username, userID string) ([]claimed, error) {
	req := &sealinev1.ClaimKeyPackagesRequest{Username: username, UserId: userID}
	resp, err := call(ctx, m.c, connect.NewRequest(req), m.kps.ClaimKeyPackages)
	for try := 0; err != nil && try < claimRetries && m.waitRetry(ctx, err); try++ {
		resp, err = call(ctx, m.c, connect.NewRequest(req), m.kps.ClaimKeyPackages)
	}
	if err != nil {
		return nil, fmt.Errorf("claim key packages: %w", rpcErr(err))
	}
	var out []claimed
	for _, ck := range resp.GetKeyPackages() {
		c, err := m.checkClaimed(ck)
		if err != nil {
			return nil, err
		}
		if c.kp.CipherSuite == m.cfg.Suite && c.member != m.me {
			out = append(out, c)
		}
	}
	if username != "" && len(resp.GetKeyPackages()) > 0 {
		uid := resp.GetKeyPackages()[0].GetUserId()
		if err := m.store.Update(func(tx *localstore.Tx) error { return tx.PutUser(uid, username) }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// claimRetries bounds the waits for a claim rate limit; maxRetryWait
// bounds each.
const (
	claimRetries = 3
	maxRetryWait = 30 * time.Second
)

// waitRetry sleeps until a rate-limited call may be retried and reports
// whether to retry (not when the wait is long or ctx ends first).
func (m *Messenger) waitRetry(ctx context.Context, err error) bool {
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrRateLimited) || e.RetryAfter.IsZero() {
		return false
	}
	d := time.Until(e.RetryAfter)
	return d <= maxRetryWait && sleep(ctx, max(d, time.Millisecond))
}

// errForeignKeyPackage: the server handed out a KeyPackage whose
// credential does not name the device it was claimed for.
var errForeignKeyPackage = errors.New("server returned a key package for another device")

func (m *Messenger) checkClaimed(ck *sealinev1.ClaimedKeyPackage) (claimed, error) {
	msg, err := mls.ParseMLSMessage(ck.GetKeyPackage())
	if err != nil || msg.KeyPackage == nil {
		return claimed{}, fmt.Errorf("claimed key package: %w", mls.ErrMalformed)
	}
	kp := msg.KeyPackage
	if err := kp.Validate(kp.CipherSuite, m.now(), nil); err != nil {
		return claimed{}, fmt.Errorf("claimed key package: %w", err)
	}
	who, ok := parseIdentity(kp.LeafNode.Credential)
	if !ok || who.UserID != ck.GetUserId() || who.DeviceID != ck.GetDeviceId() {
		return claimed{}, errForeignKeyPackage
	}
	return claimed{member: who, kp: kp}, nil
}

// credentialOf is the BasicCredential for an identity string.
func credentialOf(identity string) mls.Credential {
	return mls.Credential{Type: mls.CredentialBasic, Identity: []byte(identity)}
}
