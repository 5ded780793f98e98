package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/client/localstore"
	"github.com/sealine/sealine/mls"
)

// MessengerConfig configures a Messenger. The zero value works.
type MessengerConfig struct {
	// Passphrase protects the local database with an Argon2id-derived key
	// instead of <home>/storage.key (the CLI reads SEALINE_PASSPHRASE).
	Passphrase string
	// KDF replaces localstore.DefaultKDF for a new database.
	KDF *localstore.KDFParams
	// Suite is the MLS cipher suite for this device's KeyPackages and new
	// conversations; zero means suite 1. 0x004D (X-Wing) is the hybrid
	// post-quantum choice.
	Suite mls.CipherSuite
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyPackages is how many one-time KeyPackages to keep on the server;
	// zero means 32. A top-up happens when fewer than half are left.
	KeyPackages int
	// ReorderWindow is how many later messages of a sender may arrive
	// before a missing one is declared dropped; zero means 8.
	ReorderWindow uint64
	// ReorderWait is how long a missing message may be late before it is
	// declared dropped; zero means 30 seconds.
	ReorderWait time.Duration
	// CommitRetries bounds the retries after stale_epoch; zero means 8.
	CommitRetries int
	// DeliveryReceipts sends a delivery receipt for every text message
	// received in a direct conversation.
	DeliveryReceipts bool
	// EventBuffer is the capacity of the Events channel; zero means 1024.
	EventBuffer int
	// MinBackoff and MaxBackoff bound the jittered reconnect delay;
	// zero means 250 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
}

func (cfg *MessengerConfig) defaults() {
	if cfg.Suite == 0 {
		cfg.Suite = mls.DefaultCipherSuite
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyPackages <= 0 {
		cfg.KeyPackages = 32
	}
	if cfg.KeyPackages > 100 {
		cfg.KeyPackages = 100
	}
	if cfg.ReorderWindow == 0 {
		cfg.ReorderWindow = 8
	}
	if cfg.ReorderWait <= 0 {
		cfg.ReorderWait = 30 * time.Second
	}
	if cfg.CommitRetries <= 0 {
		cfg.CommitRetries = 8
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 1024
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
}

// Messenger is this device's end-to-end encrypted messaging: its
// conversations (one MLS group each), their local history and the
// receive loop. It is safe for concurrent use.
type Messenger struct {
	c      *Client
	cfg    MessengerConfig
	me     Member
	sig    *mls.SignaturePrivateKey
	store  *localstore.Store
	kps    sealinev1connect.KeyPackageServiceClient
	convs  sealinev1connect.ConversationServiceClient
	msgs   sealinev1connect.MessageServiceClient
	events chan Event
	users  lookups // user ids to name (users.go)
	out    outbox  // messages to send (outbox.go)

	op sync.Mutex // serialises operations that send or commit

	mu       sync.Mutex // guards the fields below
	cursor   uint64     // last envelope processed and committed locally
	acked    uint64     // last cursor acknowledged to the server
	groups   map[string]*conversation
	gaps     map[senderKey]bool                   // senders with missing sequence numbers
	senders  map[senderKey]localstore.SenderState // as committed locally; filled as read
	leaving  map[string]map[Member]bool           // devices that proposed to leave, by conversation
	progress chan struct{}                        // closed and replaced after each envelope
	running  int                                  // receive loops running
	closed   bool
}

// conversation is one MLS group and its local record.
type conversation struct {
	rec     localstore.Group
	g       *mls.Group // nil when the state could not be restored
	pending *mls.PendingCommit
	merged  *mls.PendingCommit // the last own commit merged
	tag     struct {           // epochTag's memo (see conversation.epochTag)
		g     *mls.Group
		epoch uint64
		b     []byte
	}
}

type senderKey struct{ conv, sender string }

// Messenger opens this device's messaging state in the client home. It
// makes no network request; call Run to receive and TopUpKeyPackages (Run
// does too) to publish KeyPackages.
func (c *Client) Messenger(cfg MessengerConfig) (*Messenger, error) {
	cfg.defaults()
	s, err := c.Session()
	if err != nil {
		return nil, err
	}
	key, err := c.DeviceKey()
	if err != nil {
		return nil, err
	}
	sig, err := cfg.Suite.NewSignaturePrivateKey(key.Seed())
	if err != nil {
		return nil, fmt.Errorf("messenger: suite %#04x: %w", uint16(cfg.Suite), err)
	}
	st, err := localstore.Open(c.home.dir, localstore.Options{
		Passphrase: cfg.Passphrase, KDF: cfg.KDF, Rand: c.rand, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	limit := connect.WithReadMaxBytes(maxResponseBytes)
	m := &Messenger{
		c: c, cfg: cfg, me: Member{s.UserID, s.DeviceID}, sig: sig, store: st,
		kps:    sealinev1connect.NewKeyPackageServiceClient(c.hc, c.server, limit),
		convs:  sealinev1connect.NewConversationServiceClient(c.hc, c.server, limit),
		msgs:   sealinev1connect.NewMessageServiceClient(c.hc, c.server, limit),
		events: make(chan Event, cfg.EventBuffer),
		groups: map[string]*conversation{}, gaps: map[senderKey]bool{}, senders: map[senderKey]localstore.SenderState{},
		leaving: map[string]map[Member]bool{}, progress: make(chan struct{}),
	}
	if err := m.load(); err != nil {
		st.Close()
		return nil, err
	}
	return m, nil
}

// load reads the cursor and every conversation from the local store.
func (m *Messenger) load() error {
	return m.store.View(func(tx *localstore.Tx) error {
		var err error
		if m.cursor, err = tx.Cursor(); err != nil {
			return err
		}
		return m.loadGroups(tx)
	})
}

// loadGroups replaces the conversations in memory with the saved ones.
func (m *Messenger) loadGroups(tx *localstore.Tx) error {
	recs, err := tx.Groups()
	if err != nil {
		return err
	}
	m.groups = map[string]*conversation{}
	for _, rec := range recs {
		g, _ := restoreGroup(m.mlsConfig(), rec.State)
		m.groups[rec.ConvID] = &conversation{rec: rec, g: g}
	}
	return nil
}

// reloadLocked goes back to the saved conversations after a failed local
// commit. m.mu must be held.
func (m *Messenger) reloadLocked() error {
	m.senders = map[senderKey]localstore.SenderState{}
	return m.store.View(m.loadGroups)
}

// Close closes the local store. Stop Run first.
func (m *Messenger) Close() error {
	m.users.stop()
	m.closeOutbox()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.store.Close()
}

// Me returns this device as a conversation member.
func (m *Messenger) Me() Member { return m.me }

// Events returns the channel of received events. The receive loop blocks
// when it is full, so read it.
func (m *Messenger) Events() <-chan Event { return m.events }

func (m *Messenger) mlsConfig() mls.Config {
	// KeepEpochs < 0: no past epoch keys. The server orders each device's
	// queue, so an application message never follows the commit that
	// ended its epoch; one that does is reported, not decrypted.
	return mls.Config{Rand: m.c.rand, Now: m.cfg.Now, PaddingBlock: 32, KeepEpochs: -1}
}

func (m *Messenger) now() time.Time { return m.cfg.Now() }

// Messaging errors callers branch on.
var (
	ErrNoConversation = errors.New("no such conversation")
	ErrStateLost      = errors.New("conversation state could not be restored")
	ErrStaleEpoch     = errors.New("conversation moved to a newer epoch")
	ErrNotMember      = errors.New("not a member of the conversation")
	ErrUserNotFound   = errors.New("no such user")
	ErrNoKeyPackages  = errors.New("user has no devices that can be added")
	ErrQueueFull      = errors.New("a recipient's queue is full")
	ErrTooManyRetries = errors.New("gave up after repeated epoch conflicts")
	ErrDirectMembers  = errors.New("a direct conversation has exactly two users")
)

var messagingReasons = map[string]error{
	"stale_epoch":     ErrStaleEpoch,
	"not_member":      ErrNotMember,
	"user_not_found":  ErrUserNotFound,
	"no_key_packages": ErrNoKeyPackages,
	"queue_full":      ErrQueueFull,
}

// rpcErr adds the messaging sentinel for a server refusal's reason.
func rpcErr(err error) error {
	var e *Error
	if errors.As(err, &e) {
		if kind, ok := messagingReasons[e.Reason]; ok {
			return fmt.Errorf("%w: %w", kind, err)
		}
	}
	return err
}

// emit delivers ev, giving up when ctx ends. The user ids it names are
// queued for a username lookup first (users.go).
func (m *Messenger) emit(ctx context.Context, ev Event) {
	m.noteUsers(ev)
	select {
	case m.events <- ev:
	case <-ctx.Done():
	}
}
