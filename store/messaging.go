package store

import (
	"context"
	"errors"
	"time"
)

// Messaging: key packages, conversations, per-device queues and blobs.
//
// Every device has one counter row. Its last_cursor is the last cursor
// assigned to the device's queue: an enqueue advances it with one
// INSERT … ON CONFLICT DO UPDATE … WHERE queued < max RETURNING, inside
// the transaction that stores the envelope, so cursors are strictly
// increasing per device and the queue bound is decided by that same
// statement. "First commit for epoch N wins" is the conditional
// UPDATE conversations SET epoch = N+1 WHERE id = ? AND epoch = N, in the
// transaction that enqueues the commit.

// Sentinel errors of the messaging stores.
var (
	// ErrStaleEpoch: the conversation is no longer at the epoch given.
	ErrStaleEpoch = errors.New("store: stale epoch")
	// ErrNotMember: the device is not a member of the conversation (or the
	// conversation does not exist).
	ErrNotMember = errors.New("store: not a member")
	// ErrQueueFull: a recipient's queue holds its maximum.
	ErrQueueFull = errors.New("store: queue full")
	// ErrUnknownCursor: the cursor was never assigned to the device.
	ErrUnknownCursor = errors.New("store: unknown cursor")
	// ErrQuota: a per-device or per-user bound would be exceeded.
	ErrQuota = errors.New("store: quota exceeded")
	// ErrGroupMismatch: a message names another MLS group than the
	// conversation's.
	ErrGroupMismatch = errors.New("store: message is for another group")
	// ErrNoDevice: an added or addressed device does not exist.
	ErrNoDevice = errors.New("store: no such device")
)

// Messaging is what a Store offers for end-to-end encrypted messaging.
type Messaging interface {
	KeyPackages
	Conversations
	Queues
	Blobs
	ExternalSenders
}

// KeyPackage is a stored MLS KeyPackage (MLSMessage-encoded).
type KeyPackage struct {
	Ref        []byte // KeyPackageRef, unique
	UserID     string
	DeviceID   string
	Data       []byte
	LastResort bool
	CreatedAt  time.Time
}

// KeyPackages stores and hands out key packages.
type KeyPackages interface {
	// AddKeyPackages stores one-time key packages of one device and, when
	// lastResort is not nil, replaces its last-resort package, in one
	// transaction. A ref already stored is skipped. When the device would
	// hold more than max one-time packages it returns ErrQuota and writes
	// nothing. It returns how many one-time packages the device now has.
	AddKeyPackages(ctx context.Context, oneTime []KeyPackage, lastResort *KeyPackage, max int) (available int, err error)
	// ClaimKeyPackage removes and returns one one-time package of the
	// device, each exactly once however many claims race; when none is
	// left it returns the last-resort package (kept); ErrNotFound when
	// the device has neither.
	ClaimKeyPackage(ctx context.Context, deviceID string) (KeyPackage, error)
	// KeyPackageCount says how many one-time packages the device has and
	// whether it has a last-resort one.
	KeyPackageCount(ctx context.Context, deviceID string) (available int, lastResort bool, err error)
}

// ConversationKind mirrors the API's Conversation.Kind.
type ConversationKind int

// Conversation kinds.
const (
	KindDirect ConversationKind = 1
	KindGroup  ConversationKind = 2
)

// Conversation is one MLS group whose members are devices.
type Conversation struct {
	ID        string
	GroupID   []byte // unique
	Kind      ConversationKind
	Epoch     uint64
	CreatedAt time.Time
}

// Conversations stores conversations and their member devices.
type Conversations interface {
	// CreateConversation inserts c at epoch 0 with creator (a device of
	// user) as its only member; ErrConflict if the id or group id is taken.
	CreateConversation(ctx context.Context, c Conversation, creatorUserID, creatorDeviceID string) error
	// Conversation returns one conversation, or ErrNotFound.
	Conversation(ctx context.Context, id string) (Conversation, error)
	// ConversationsOf lists the conversations the device is a member of.
	ConversationsOf(ctx context.Context, deviceID string) ([]Conversation, error)
	// Members lists the member device ids of a conversation, sorted.
	Members(ctx context.Context, conversationID string) ([]string, error)
	// IsMember reports whether the device is a member.
	IsMember(ctx context.Context, conversationID, deviceID string) (bool, error)
	// CoMembers returns those of userIDs that have a device in at least
	// one conversation with a device of userID, sorted and without
	// duplicates. userID itself is returned only when it is in userIDs
	// and has a device in some conversation.
	CoMembers(ctx context.Context, userID string, userIDs []string) ([]string, error)
}

// EnvelopeKind mirrors the API's Envelope.Kind.
type EnvelopeKind int

// Envelope kinds.
const (
	EnvelopeApplication EnvelopeKind = 1
	EnvelopeProposal    EnvelopeKind = 2
	EnvelopeCommit      EnvelopeKind = 3
	EnvelopeWelcome     EnvelopeKind = 4
)

// Envelope is one entry of a device's queue.
type Envelope struct {
	Cursor         uint64
	ConversationID string
	Kind           EnvelopeKind
	Epoch          uint64
	Payload        []byte
	SenderDeviceID string
	ServerTime     time.Time
}

// Welcome is a Welcome message for some of the devices a commit adds.
type Welcome struct {
	ID        string // message id chosen by the caller, unique
	Payload   []byte
	DeviceIDs []string
}

// Post is one write to a conversation: an application message, a
// proposal or a commit, stored once and enqueued for its recipients.
type Post struct {
	ID             string // message id chosen by the caller, unique
	Kind           EnvelopeKind
	ConversationID string
	GroupID        []byte // the MLS group the payload names
	SenderUserID   string
	SenderDeviceID string
	// ClientMessageID makes an application message idempotent per sender;
	// nil for handshake messages.
	ClientMessageID []byte
	Epoch           uint64
	Payload         []byte
	At              time.Time
	// MaxQueue bounds each recipient's queue (ErrQueueFull).
	MaxQueue int

	// Commit only: the member list follows Added and Removed, and each
	// Welcome goes to its devices.
	Added    []string
	Removed  []string
	Welcomes []Welcome
	// Leave (proposals only) removes the sender from the members at once.
	Leave bool
}

// PostResult is the outcome of one Post.
type PostResult struct {
	// Cursor is the commit's cursor in the committer's own queue (commits
	// only).
	Cursor uint64
	// Epoch is the conversation's epoch after the post.
	Epoch uint64
	// Duplicate: an application message with this (sender,
	// ClientMessageID) was already stored; nothing was written.
	Duplicate bool
	// Recipients are the devices whose queues grew, for delivery hints.
	Recipients []string
	// Err is the post's own error: ErrNotMember, ErrStaleEpoch,
	// ErrQueueFull, ErrGroupMismatch, ErrNoDevice, or another.
	Err error
}

// AckRequest is one device's acknowledgement of its queue up to and
// including Cursor, written in a batch by Queues.Write.
type AckRequest struct {
	DeviceID string
	Cursor   uint64
}

// AckResult is the outcome of one AckRequest.
type AckResult struct {
	// Removed is how many envelopes the ack removed.
	Removed int64
	// Err is the ack's own error: ErrUnknownCursor, or another.
	Err error
}

// IsRefusal reports whether err is one of a post's own refusals: the post
// fails alone and the other posts of its batch go on.
func IsRefusal(err error) bool {
	for _, want := range []error{ErrNotMember, ErrStaleEpoch, ErrQueueFull, ErrGroupMismatch, ErrNoDevice} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// Queues stores posts and per-device queues.
type Queues interface {
	// Post applies posts in order in one transaction; a post that fails
	// leaves no trace and does not affect the others (it writes nothing
	// before every refusal is ruled out, or runs in its own savepoint). results[i] belongs to posts[i]. The error is for the
	// batch as a whole (nothing was written).
	Post(ctx context.Context, posts []Post) (results []PostResult, err error)
	// Write applies posts as Post does, then acks in order as Ack does,
	// all in one transaction, so that acknowledgements ride a group
	// commit. An ack that fails (ErrUnknownCursor) writes nothing and
	// does not affect the others. postResults[i] belongs to posts[i],
	// ackResults[i] to acks[i]. The error is for the batch as a whole
	// (nothing was written).
	Write(ctx context.Context, posts []Post, acks []AckRequest) (postResults []PostResult, ackResults []AckResult, err error)
	// Envelopes returns up to limit envelopes of the device's queue with
	// cursors after after, in cursor order.
	Envelopes(ctx context.Context, deviceID string, after uint64, limit int) ([]Envelope, error)
	// Ack removes the device's envelopes up to and including cursor and
	// returns how many it removed; ErrUnknownCursor when the cursor was
	// never assigned to the device.
	Ack(ctx context.Context, deviceID string, cursor uint64) (removed int64, err error)
	// QueueLength returns how many envelopes the device's queue holds.
	QueueLength(ctx context.Context, deviceID string) (int64, error)
}

// Blob is an encrypted attachment's record; its bytes are in a blob store
// under its ID.
type Blob struct {
	ID             string
	ConversationID string
	UserID         string // the uploader, whose quota it counts against
	Size           int64
	CreatedAt      time.Time
}

// Blobs stores blob records and per-user quotas.
type Blobs interface {
	// AddBlob records b and adds its size to the uploader's usage in one
	// transaction; ErrQuota (nothing written) when usage would pass quota.
	AddBlob(ctx context.Context, b Blob, quota int64) error
	// Blob returns a blob record, or ErrNotFound.
	Blob(ctx context.Context, id string) (Blob, error)
	// BlobUsage returns the bytes the user's blobs take.
	BlobUsage(ctx context.Context, userID string) (int64, error)
}
