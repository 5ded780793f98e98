package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/store"
)

// Messaging: the server as MLS Delivery Service and Authentication Service
// (api/sealine/v1/messaging.proto, docs/PROTOCOL.md).
//
// Sends, commits and proposals go through one group-commit writer
// (groupcommit.go) that stores a batch of them in one transaction and
// acknowledges each only after that commit. Delivery re-reads each
// device's queue from the store by cursor; the write path only sends a
// hint, "device:<id>", through the Notifier, so a lost hint costs at most
// WatchPoll of latency.

// MessagingConfig bounds messaging; the zero value gives the defaults.
type MessagingConfig struct {
	// Suites are the MLS cipher suites accepted in KeyPackages; nil = 1
	// (X25519, AES-128-GCM, Ed25519) and 0x004D (X-Wing, ChaCha20-Poly1305,
	// Ed25519). Only suites whose signature scheme is Ed25519 (1, 3,
	// 0x004D) can work: a leaf's signature key must be the device's
	// registered Ed25519 key.
	Suites []mls.CipherSuite
	// MaxKeyPackages bounds a device's one-time KeyPackages; 0 = 200.
	MaxKeyPackages int
	// MaxQueue bounds a device's queue; 0 = 10,000 envelopes.
	MaxQueue int
	// MaxBlobBytes bounds one attachment; 0 = 100 MiB.
	MaxBlobBytes int64
	// BlobQuota bounds the bytes of a user's attachments; 0 = 1 GiB.
	BlobQuota int64
	// BlobStore keeps attachment ciphertext; nil = files under
	// <DataDir>/blobs.
	BlobStore BlobStore
	// ClaimBurst and ClaimInterval bound how fast one user may claim
	// another user's KeyPackages (a token bucket per pair), so nobody can
	// drain a device's one-time packages at once; 0 = 50 and 2 seconds.
	ClaimBurst    int
	ClaimInterval time.Duration
	// LookupBurst and LookupInterval bound how often one user may call
	// LookupUsers (a token bucket per user); 0 = 30 and 1 second.
	LookupBurst    int
	LookupInterval time.Duration
	// BatchMax bounds the posts one group commit stores; 0 = 512.
	// 1 turns group commit off (one transaction per post).
	BatchMax int
}

// Request and field bounds from messaging.proto.
const (
	maxSendRequest       = 256 << 10
	maxSendMessage       = 192 << 10
	maxCommitRequest     = 8 << 20
	maxUploadKPRequest   = 1 << 20
	maxKeyPackagesPerReq = 100
	maxKeyPackageBytes   = 16 << 10
	maxBlobChunk         = 1 << 20
	maxBlobStreamMessage = maxBlobChunk + 1024
	maxGroupIDBytes      = 64
	clientMessageIDBytes = 16
	maxListedDevices     = 1000
	envelopePage         = 256
)

// Messaging error reasons, sent in sealinev1.ErrorDetail.Reason.
const (
	ReasonKeyPackageInvalid  = "key_package_invalid"
	ReasonKeyPackageForeign  = "key_package_foreign"
	ReasonQuota              = "quota"
	ReasonUserNotFound       = "user_not_found"
	ReasonNoKeyPackages      = "no_key_packages"
	ReasonConversationExists = "conversation_exists"
	ReasonNotMember          = "not_member"
	ReasonStaleEpoch         = "stale_epoch"
	ReasonQueueFull          = "queue_full"
	ReasonTooLarge           = "too_large"
	ReasonUnknownCursor      = "unknown_cursor"
	ReasonUploadTruncated    = "upload_truncated"
	ReasonBlobNotFound       = "blob_not_found"
)

// messagingMessage is the human text of each messaging reason.
func messagingMessage(reason string) string {
	switch reason {
	case ReasonKeyPackageInvalid:
		return "key package does not parse, verify or use an allowed cipher suite"
	case ReasonKeyPackageForeign:
		return "key package does not name this device or its signature key"
	case ReasonQuota:
		return "quota exceeded"
	case ReasonUserNotFound:
		return "no such user"
	case ReasonNoKeyPackages:
		return "the user's devices have no key packages"
	case ReasonConversationExists:
		return "a conversation with this group id exists"
	case ReasonNotMember:
		return "this device is not a member of the conversation"
	case ReasonStaleEpoch:
		return "the conversation has moved past this epoch; fetch, process and retry"
	case ReasonQueueFull:
		return "a recipient's queue is full"
	case ReasonTooLarge:
		return "too large"
	case ReasonUnknownCursor:
		return "cursor was never assigned to this device"
	case ReasonUploadTruncated:
		return "upload ended before the size in its header"
	case ReasonBlobNotFound:
		return "no such blob"
	}
	return message(reason)
}

// msgError is an API error with a messaging reason and optional field.
func msgError(code connect.Code, reason, field string) *connect.Error {
	e := apiError(code, reason, field, time.Time{})
	text := messagingMessage(reason)
	if field != "" {
		text += ": " + field
	}
	out := connect.NewError(code, errors.New(text))
	for _, d := range e.Details() {
		out.AddDetail(d)
	}
	return out
}

func (cfg MessagingConfig) withDefaults(dataDir string) (MessagingConfig, error) {
	if cfg.Suites == nil {
		cfg.Suites = []mls.CipherSuite{mls.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, mls.MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519}
	}
	cfg.MaxKeyPackages = or(cfg.MaxKeyPackages, 200)
	cfg.MaxQueue = or(cfg.MaxQueue, 10000)
	cfg.MaxBlobBytes = or(cfg.MaxBlobBytes, 100<<20)
	cfg.BlobQuota = or(cfg.BlobQuota, 1<<30)
	cfg.BatchMax = or(cfg.BatchMax, 512)
	cfg.ClaimBurst = or(cfg.ClaimBurst, 50)
	cfg.ClaimInterval = or(cfg.ClaimInterval, 2*time.Second)
	cfg.LookupBurst = or(cfg.LookupBurst, 30)
	cfg.LookupInterval = or(cfg.LookupInterval, time.Second)
	if cfg.BlobStore == nil {
		bs, err := NewFileBlobStore(filepath.Join(dataDir, "blobs"))
		if err != nil {
			return cfg, err
		}
		cfg.BlobStore = bs
	}
	return cfg, nil
}

// messaging is the Server's messaging state.
type messaging struct {
	cfg       MessagingConfig
	committer *committer
	claims    *limiter                 // KeyPackage claims per (claiming user, claimed user)
	lookups   *limiter                 // LookupUsers calls per user
	external  *mls.SignaturePrivateKey // the server's MLS external sender key

	envelopeBufs sync.Pool // of *envelopeBuf, for Subscribe
}

// startMessaging applies defaults and starts the group-commit writer.
func (s *Server) startMessaging() error {
	cfg, err := s.cfg.Messaging.withDefaults(s.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("server: messaging: %w", err)
	}
	external, err := loadExternalSender(s.cfg)
	if err != nil {
		return err
	}
	s.msg = &messaging{
		external:  external,
		cfg:       cfg,
		committer: newCommitter(s.store, s.cfg.Notifier, cfg.BatchMax, s.log),
		claims:    newLimiter(cfg.ClaimBurst, cfg.ClaimInterval),
		lookups:   newLimiter(cfg.LookupBurst, cfg.LookupInterval),
	}
	return nil
}

// stopMessaging drains the group-commit writer; Server.shutdown calls it
// after the HTTP server stopped and before the store closes.
func (s *Server) stopMessaging() {
	if s.msg != nil {
		s.msg.committer.close()
	}
}

// deviceKey is the Notifier key that wakes a device's Subscribe stream.
func deviceKey(deviceID string) string { return "device:" + deviceID }

// messagingRoutes mounts the messaging services, each procedure with its
// own request bound (messaging.proto).
func (s *Server) messagingRoutes(mux *http.ServeMux) {
	s.mountLimited(mux, func(o ...connect.HandlerOption) http.Handler {
		_, h := sealinev1connect.NewKeyPackageServiceHandler(keyPackageService{s}, o...)
		return h
	}, map[string]int{
		sealinev1connect.KeyPackageServiceUploadKeyPackagesProcedure: maxUploadKPRequest,
		sealinev1connect.KeyPackageServiceClaimKeyPackagesProcedure:  maxRequestBytes,
		sealinev1connect.KeyPackageServiceKeyPackageStatusProcedure:  maxRequestBytes,
	})
	s.mountLimited(mux, func(o ...connect.HandlerOption) http.Handler {
		_, h := sealinev1connect.NewConversationServiceHandler(conversationService{s}, o...)
		return h
	}, map[string]int{
		sealinev1connect.ConversationServiceCreateConversationProcedure: maxRequestBytes,
		sealinev1connect.ConversationServiceListConversationsProcedure:  maxRequestBytes,
		sealinev1connect.ConversationServiceCommitProcedure:             maxCommitRequest,
		sealinev1connect.ConversationServiceProposeProcedure:            maxCommitRequest,
		sealinev1connect.ConversationServiceServerInfoProcedure:         maxRequestBytes,
	})
	s.mountLimited(mux, func(o ...connect.HandlerOption) http.Handler {
		_, h := sealinev1connect.NewMessageServiceHandler(messageService{s}, o...)
		return h
	}, map[string]int{
		sealinev1connect.MessageServiceSendProcedure:       maxSendRequest,
		sealinev1connect.MessageServiceSendStreamProcedure: maxSendRequest,
		sealinev1connect.MessageServiceSubscribeProcedure:  maxRequestBytes,
		sealinev1connect.MessageServiceAckProcedure:        maxRequestBytes,
	})
	s.mountLimited(mux, func(o ...connect.HandlerOption) http.Handler {
		_, h := sealinev1connect.NewBlobServiceHandler(blobService{s}, o...)
		return h
	}, map[string]int{
		sealinev1connect.BlobServiceUploadBlobProcedure:   maxBlobStreamMessage,
		sealinev1connect.BlobServiceDownloadBlobProcedure: maxRequestBytes,
	})
}

// mountLimited mounts each procedure of a service on a handler built with
// the procedure's request bound (one handler per distinct bound).
func (s *Server) mountLimited(mux *http.ServeMux, build func(...connect.HandlerOption) http.Handler, limits map[string]int) {
	byLimit := map[int]http.Handler{}
	for procedure, limit := range limits {
		h, ok := byLimit[limit]
		if !ok {
			h = build(s.limitedOptions(limit)...)
			byLimit[limit] = h
		}
		mux.Handle(procedure, h)
	}
}

// limitedOptions are the API's handler options with a request bound of
// limit bytes instead of 64 KiB: a larger request gets
// resource_exhausted/message_too_large before it is decoded. As for the
// other services, connect-go itself refuses (without a reason) what passes
// twice the bound, so it never reads or decompresses more.
func (s *Server) limitedOptions(limit int) []connect.HandlerOption {
	return append(sizedCodecs(limit),
		connect.WithReadMaxBytes(2*limit),
		connect.WithCompressMinBytes(1024),
		connect.WithInterceptors(interceptor{s}),
		connect.WithRecover(s.recovered),
	)
}

// sizedCodec is the server's marking codec with another size bound.
type sizedCodec struct {
	codec
	max int
}

func sizedCodecs(max int) []connect.HandlerOption {
	var out []connect.HandlerOption
	for _, c := range allCodecs() {
		out = append(out, connect.WithCodec(sizedCodec{c, max}))
	}
	return out
}

func (c sizedCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("server: %T is not a proto message", v)
	}
	switch {
	case len(data) > c.max:
		mark(m, markTooLarge)
	case c.unmarshal(data, m) != nil:
		mark(m, markMalformed)
	}
	return nil
}

// storeError maps the messaging sentinels onto API errors.
func (s *Server) storeError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotMember):
		return msgError(connect.CodePermissionDenied, ReasonNotMember, "")
	case errors.Is(err, store.ErrStaleEpoch):
		return msgError(connect.CodeFailedPrecondition, ReasonStaleEpoch, "")
	case errors.Is(err, store.ErrQueueFull):
		return msgError(connect.CodeResourceExhausted, ReasonQueueFull, "")
	case errors.Is(err, store.ErrQuota):
		return msgError(connect.CodeResourceExhausted, ReasonQuota, "")
	case errors.Is(err, store.ErrGroupMismatch):
		return msgError(connect.CodeInvalidArgument, ReasonMessageInvalid, "group_id")
	case errors.Is(err, store.ErrNoDevice):
		return msgError(connect.CodeInvalidArgument, ReasonDeviceNotFound, "device_ids")
	case errors.Is(err, store.ErrUnknownCursor):
		return msgError(connect.CodeInvalidArgument, ReasonUnknownCursor, "up_to_cursor")
	case errors.Is(err, errShuttingDown):
		return errReason(connect.CodeUnavailable, ReasonShuttingDown)
	}
	return s.errInternal(ctx, op, err)
}

// validIDs reports whether ids are at most max distinct, non-empty,
// bounded ids.
func validIDs(ids []string, max int) bool {
	if len(ids) > max {
		return false
	}
	for i, id := range ids {
		if id == "" || len(id) > maxDeviceIDBytes || slices.Contains(ids[:i], id) {
			return false
		}
	}
	return true
}
