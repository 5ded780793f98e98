package store

import (
	"context"
	"time"
)

// DeviceLeaf is a member device's MLS leaf index in a conversation.
type DeviceLeaf struct {
	ConversationID string
	DeviceID       string
	Leaf           uint32
}

// ExternalPost is a proposal from the server itself as an MLS external
// sender (for example a Remove of a withdrawn user's device), queued for
// every member of the conversation.
type ExternalPost struct {
	ID             string // message id chosen by the caller, unique
	ConversationID string
	GroupID        []byte
	Epoch          uint64 // must be the conversation's current epoch
	Payload        []byte
	At             time.Time
	MaxQueue       int
}

// ExternalSenders stores what the server needs to act as an external
// sender: member leaf indexes, and proposals with no member sender.
type ExternalSenders interface {
	// SetLeaves records the leaf index of member devices of one
	// conversation; devices that are not members are skipped.
	SetLeaves(ctx context.Context, conversationID string, leaves []DeviceLeaf) error
	// LeavesOfUser lists the known leaves of every device of the user in
	// every conversation, ordered by conversation and device.
	LeavesOfUser(ctx context.Context, userID string) ([]DeviceLeaf, error)
	// PostExternal queues p as a proposal for every member; ErrNotFound
	// if the conversation is gone, ErrGroupMismatch, ErrStaleEpoch, or
	// ErrQueueFull (nothing queued).
	PostExternal(ctx context.Context, p ExternalPost) (PostResult, error)
}
