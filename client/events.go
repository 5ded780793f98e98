package client

import (
	"fmt"
	"time"

	"github.com/sealine/sealine/client/attachment"
)

// Member is one device in a conversation, as named by its MLS credential
// "<user_id>/<device_id>".
type Member struct {
	UserID   string
	DeviceID string
}

func (m Member) String() string { return m.UserID + "/" + m.DeviceID }

// Event is something the receive loop delivers: *MessageEvent,
// *ReceiptEvent, *TypingEvent, *MemberEvent, *JoinedEvent, *LeftEvent,
// *RenamedEvent or *SecurityWarning.
type Event interface{ event() }

// Message is a text or attachment message of a conversation.
type Message struct {
	ConvID     string
	ID         MessageID
	From       Member
	Outgoing   bool
	Seq        uint64
	SentAt     time.Time // the sender's clock
	ReceivedAt time.Time
	Text       string
	Attachment *attachment.Metadata
}

// MessageEvent delivers a new message.
type MessageEvent struct{ Message Message }

// ReceiptEvent reports that From has received or read messages.
type ReceiptEvent struct {
	ConvID string
	From   Member
	Kind   ReceiptKind
	IDs    []MessageID
}

// TypingEvent reports that From started or stopped typing.
type TypingEvent struct {
	ConvID string
	From   Member
	Typing bool
}

// MemberEvent reports devices added to or removed from a conversation by a
// Commit of By.
type MemberEvent struct {
	ConvID  string
	By      Member
	Added   []Member
	Removed []Member
	Epoch   uint64
}

// JoinedEvent reports that this device joined a conversation from a Welcome.
type JoinedEvent struct {
	ConvID string
	Direct bool
	Peer   string // the other user of a direct conversation
	By     Member
	Epoch  uint64
}

// LeftEvent reports that this device left or was removed from a conversation.
type LeftEvent struct {
	ConvID string
	By     Member // zero when this device left on its own
}

// RenamedEvent reports a group's new name, set by a member.
type RenamedEvent struct {
	ConvID string
	By     Member
	Name   string
}

// WarningKind names what a SecurityWarning detected.
type WarningKind int

// Warning kinds. Each is something an honest server never causes.
const (
	// WarnReplay: a message was delivered again (same sender and sequence,
	// same message id, or an MLS generation already used).
	WarnReplay WarningKind = iota + 1
	// WarnDropped: a sender's sequence has a gap that was not filled
	// within the reorder window: a message was withheld.
	WarnDropped
	// WarnReordered: a message arrived after later ones, beyond the
	// reorder window (or after it was declared dropped).
	WarnReordered
	// WarnFork: members disagree about the group's epoch (a different
	// epoch authenticator), so the server showed them different commits.
	WarnFork
	// WarnUnexpectedDevice: a device of a third user appeared in a direct
	// conversation.
	WarnUnexpectedDevice
	// WarnUndecryptable: a message for this device could not be
	// processed (forged, corrupted, for a missed epoch or an unknown
	// conversation).
	WarnUndecryptable
)

var warningNames = map[WarningKind]string{
	WarnReplay: "replay", WarnDropped: "dropped", WarnReordered: "reordered", WarnFork: "fork",
	WarnUnexpectedDevice: "unexpected_device", WarnUndecryptable: "undecryptable",
}

func (k WarningKind) String() string {
	if s, ok := warningNames[k]; ok {
		return s
	}
	return fmt.Sprintf("WarningKind(%d)", int(k))
}

// SecurityWarning reports evidence that the server (or someone between)
// tampered with delivery. It is never raised by an honest server.
type SecurityWarning struct {
	ConvID string
	Kind   WarningKind
	Sender Member // when known
	Cursor uint64 // the envelope that revealed it
	Detail string
}

func (w *SecurityWarning) Error() string {
	return fmt.Sprintf("security warning (%s) in %s: %s", w.Kind, w.ConvID, w.Detail)
}

func (*MessageEvent) event()    {}
func (*ReceiptEvent) event()    {}
func (*TypingEvent) event()     {}
func (*MemberEvent) event()     {}
func (*JoinedEvent) event()     {}
func (*LeftEvent) event()       {}
func (*RenamedEvent) event()    {}
func (*SecurityWarning) event() {}
