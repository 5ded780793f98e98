package server

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/store"
)

// keyPackageService implements sealinev1connect.KeyPackageServiceHandler.
// As the MLS Authentication Service it accepts only KeyPackages that bind
// the calling device: a BasicCredential "<user_id>/<device_id>" and the
// device's registered Ed25519 key as the leaf signature key.
type keyPackageService struct{ s *Server }

// UploadKeyPackages checks and stores the calling device's KeyPackages.
func (k keyPackageService) UploadKeyPackages(ctx context.Context, req *connect.Request[sealinev1.UploadKeyPackagesRequest]) (*connect.Response[sealinev1.UploadKeyPackagesResponse], error) {
	s, c := k.s, callerOf(ctx)
	m := req.Msg
	if len(m.GetKeyPackages()) > maxKeyPackagesPerReq {
		return nil, msgError(connect.CodeResourceExhausted, ReasonTooLarge, "key_packages")
	}
	if len(m.GetKeyPackages()) == 0 && len(m.GetLastResort()) == 0 {
		return nil, errField(ReasonFieldInvalid, "key_packages")
	}
	dev, err := s.store.Device(ctx, c.userID, c.deviceID)
	if err != nil {
		return nil, s.storeError(ctx, "load device", err)
	}
	oneTime := make([]store.KeyPackage, 0, len(m.GetKeyPackages()))
	for _, raw := range m.GetKeyPackages() {
		kp, err := s.checkKeyPackage(raw, dev)
		if err != nil {
			return nil, err
		}
		oneTime = append(oneTime, kp)
	}
	var last *store.KeyPackage
	if len(m.GetLastResort()) > 0 {
		kp, err := s.checkKeyPackage(m.GetLastResort(), dev)
		if err != nil {
			return nil, err
		}
		last = &kp
	}
	n, err := s.store.AddKeyPackages(ctx, oneTime, last, s.msg.cfg.MaxKeyPackages)
	if errors.Is(err, store.ErrConflict) {
		return nil, msgError(connect.CodeInvalidArgument, ReasonKeyPackageInvalid, "last_resort")
	}
	if err != nil {
		return nil, s.storeError(ctx, "add key packages", err)
	}
	return connect.NewResponse(&sealinev1.UploadKeyPackagesResponse{Available: int32(n)}), nil
}

// checkKeyPackage parses and validates one MLSMessage-encoded KeyPackage
// of dev (RFC 9420, Section 10.1) and returns it as a store record.
func (s *Server) checkKeyPackage(raw []byte, dev store.Device) (store.KeyPackage, error) {
	invalid := msgError(connect.CodeInvalidArgument, ReasonKeyPackageInvalid, "key_packages")
	if len(raw) > maxKeyPackageBytes {
		return store.KeyPackage{}, msgError(connect.CodeResourceExhausted, ReasonTooLarge, "key_packages")
	}
	msg, err := mls.ParseMLSMessage(raw)
	if err != nil || msg.KeyPackage == nil {
		return store.KeyPackage{}, invalid
	}
	kp := msg.KeyPackage
	if !slices.Contains(s.msg.cfg.Suites, kp.CipherSuite) || kp.Validate(kp.CipherSuite, s.now(), nil) != nil {
		return store.KeyPackage{}, invalid
	}
	cred := kp.LeafNode.Credential
	if cred.Type != mls.CredentialBasic || string(cred.Identity) != dev.UserID+"/"+dev.ID ||
		!bytes.Equal(kp.LeafNode.SignatureKey, dev.SignatureKey) {
		return store.KeyPackage{}, msgError(connect.CodePermissionDenied, ReasonKeyPackageForeign, "key_packages")
	}
	ref, err := kp.Ref()
	if err != nil {
		return store.KeyPackage{}, invalid
	}
	return store.KeyPackage{Ref: ref, UserID: dev.UserID, DeviceID: dev.ID, Data: raw, CreatedAt: s.now()}, nil
}

// ClaimKeyPackages hands out one KeyPackage for every device of a user but
// the caller's own.
func (k keyPackageService) ClaimKeyPackages(ctx context.Context, req *connect.Request[sealinev1.ClaimKeyPackagesRequest]) (*connect.Response[sealinev1.ClaimKeyPackagesResponse], error) {
	s, c := k.s, callerOf(ctx)
	userID, err := s.claimTarget(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	if ok, next := s.msg.claims.allow(c.userID+"/"+userID, s.now()); !ok {
		return nil, errRetry(ReasonRateLimited, next)
	}
	devices, err := s.store.ListDevices(ctx, userID)
	if err != nil {
		return nil, s.errInternal(ctx, "list devices", err)
	}
	out := &sealinev1.ClaimKeyPackagesResponse{}
	for _, d := range devices {
		if d.ID == c.deviceID {
			continue
		}
		kp, err := s.store.ClaimKeyPackage(ctx, d.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, s.errInternal(ctx, "claim key package", err)
		}
		out.KeyPackages = append(out.KeyPackages, &sealinev1.ClaimedKeyPackage{
			UserId: kp.UserID, DeviceId: kp.DeviceID, KeyPackage: kp.Data, LastResort: kp.LastResort,
		})
	}
	if len(out.KeyPackages) == 0 {
		return nil, msgError(connect.CodeNotFound, ReasonNoKeyPackages, "")
	}
	return connect.NewResponse(out), nil
}

// claimTarget resolves the user named by username or user_id.
func (s *Server) claimTarget(ctx context.Context, m *sealinev1.ClaimKeyPackagesRequest) (string, error) {
	name, id := m.GetUsername(), m.GetUserId()
	if (name == "") == (id == "") || len(name) > 128 || len(id) > 128 {
		return "", errField(ReasonFieldInvalid, "username")
	}
	var u store.User
	var err error
	if id != "" {
		u, err = s.store.UserByID(ctx, id)
	} else {
		u, err = s.userByName(ctx, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", msgError(connect.CodeNotFound, ReasonUserNotFound, "")
	}
	if err != nil {
		return "", s.errInternal(ctx, "find user", err)
	}
	return u.ID, nil
}

// KeyPackageStatus counts the calling device's KeyPackages.
func (k keyPackageService) KeyPackageStatus(ctx context.Context, _ *connect.Request[sealinev1.KeyPackageStatusRequest]) (*connect.Response[sealinev1.KeyPackageStatusResponse], error) {
	s, c := k.s, callerOf(ctx)
	n, last, err := s.store.KeyPackageCount(ctx, c.deviceID)
	if err != nil {
		return nil, s.errInternal(ctx, "count key packages", err)
	}
	return connect.NewResponse(&sealinev1.KeyPackageStatusResponse{Available: int32(n), HasLastResort: last}), nil
}
