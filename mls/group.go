package mls

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"time"
)

// Group is one member's state of an MLS group in its current epoch:
// the GroupContext, the ratchet tree and the member's private keys in
// it, the epoch's key schedule and secret tree, and the interim
// transcript hash that the next Commit extends.
//
// A Group is not safe for concurrent use. Methods that fail leave it
// unchanged.
//
// Lifecycle: NewGroup creates a group, Join joins one from a Welcome,
// Propose/ProposeUpdate/Commit/MergeCommit send handshake messages,
// Process receives any message, Encrypt/Decrypt carry application data
// and Export keys other protocols (SFrame). Every epoch change goes
// through newEpoch.
type Group struct {
	cfg     Config
	s       *suite
	gc      GroupContext
	tree    *RatchetTree
	priv    *TreePrivate
	sigKey  *SignaturePrivateKey
	secrets *epochSecrets
	interim []byte // interim transcript hash
	framer  *framer

	proposals  []proposalEntry            // proposals of this epoch, in arrival order
	updateKeys map[string]*HPKEPrivateKey // leaf keys of own pending Update proposals, by reference
	resumption map[uint64]secret          // resumption_psk of recent epochs
	removed    bool                       // a Commit removed this member
	reinit     bool                       // a committed ReInit closed the group for sending
	past       []*pastEpoch               // recent epochs, for late application messages
}

// pastEpoch keeps what decrypting a late application message of an
// earlier epoch needs: its context, tree (for signature keys) and
// secret tree.
type pastEpoch struct {
	gc     GroupContext
	tree   *RatchetTree
	framer *framer
}

// DefaultKeepEpochs is how many past epochs keep their application
// keys unless configured.
const DefaultKeepEpochs = 1

// resumptionEpochs is how many epochs' resumption PSKs a Group keeps.
const resumptionEpochs = 8

// Config holds a member's local policy. The zero value works.
type Config struct {
	// Rand is the source of all randomness the package controls (keys,
	// secrets, reuse guards). Nil means crypto/rand.Reader.
	Rand io.Reader
	// MaxForwardJump and OutOfOrderWindow bound each sender ratchet;
	// zero means DefaultMaxForwardJump and DefaultOutOfOrderWindow.
	MaxForwardJump   uint32
	OutOfOrderWindow uint32
	// PaddingBlock pads each PrivateMessage's content to a multiple of
	// this many bytes, hiding exact lengths; zero means no padding.
	PaddingBlock int
	// MaxVectorLen bounds each vector in a received message; zero
	// means DefaultMaxVectorLen.
	MaxVectorLen int
	// Now returns the current time for key package lifetime checks;
	// nil skips those checks.
	Now func() time.Time
	// PSK returns the value of an external pre-shared key by id; nil
	// means the member holds none.
	PSK func(id []byte) ([]byte, error)
	// KeepEpochs is how many past epochs keep their secret trees so
	// that application messages sent just before a Commit can still be
	// decrypted; zero means DefaultKeepEpochs, negative means none.
	// Keeping them delays forward secrecy for those keys.
	KeepEpochs int
	// AllowExternalCommits accepts external commits (RFC 9420, Section
	// 12.4.3.2): anyone holding a GroupInfo and a credential the
	// application accepts can then join. Off by default.
	AllowExternalCommits bool
	// PublicHandshake sends proposals and commits as PublicMessages, so
	// that the Delivery Service can verify them; by default they are
	// PrivateMessages.
	PublicHandshake bool
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Time{}
	}
	return c.Now()
}

func (c Config) rand() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

func (c Config) keepEpochs() int {
	if c.KeepEpochs == 0 {
		return DefaultKeepEpochs
	}
	return max(c.KeepEpochs, 0)
}

func (c Config) maxVectorLen() int {
	if c.MaxVectorLen <= 0 {
		return DefaultMaxVectorLen
	}
	return c.MaxVectorLen
}

// NewGroup creates a one-member group (RFC 9420, Section 11) whose
// creator is the owner of kp: its leaf is kp's leaf node, and priv and
// sigKey are kp's private keys. extensions become the GroupContext
// extensions.
func NewGroup(cfg Config, groupID []byte, kp *KeyPackage, priv *KeyPackagePrivate, sigKey *SignaturePrivateKey, extensions []Extension) (*Group, error) {
	s, err := kp.CipherSuite.suite()
	if err != nil {
		return nil, err
	}
	if priv == nil || sigKey == nil || !bytes.Equal(sigKey.PublicKey(), kp.LeafNode.SignatureKey) {
		return nil, fmt.Errorf("%w: signature key does not match the key package", ErrBadKey)
	}
	tree, err := NewRatchetTree(kp.CipherSuite, &kp.LeafNode)
	if err != nil {
		return nil, fmt.Errorf("new group: %w", err)
	}
	tp, err := NewTreePrivate(kp.CipherSuite, 0, priv.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("new group: %w", err)
	}
	epochSecret := make(secret, s.hashLen())
	if _, err := io.ReadFull(cfg.rand(), epochSecret); err != nil {
		return nil, fmt.Errorf("new group: %w", err)
	}
	secrets := new(epochSecrets)
	if err := s.fromEpochSecret(secrets, epochSecret); err != nil {
		return nil, fmt.Errorf("new group: %w", err)
	}
	gc := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: kp.CipherSuite, GroupID: bytes.Clone(groupID), Extensions: extensions}
	g := &Group{cfg: cfg, s: s, priv: tp, sigKey: sigKey}
	if err := g.newEpoch(gc, tree, secrets); err != nil {
		return nil, fmt.Errorf("new group: %w", err)
	}
	g.interim = s.interimTranscriptHash(nil, s.confirmationTag(secrets.confirmation, nil))
	return g, nil
}

// newEpoch installs an epoch: gc (its tree hash is recomputed from tree),
// the tree, and the epoch's secrets with a fresh secret tree. It
// changes g only on success.
func (g *Group) newEpoch(gc GroupContext, tree *RatchetTree, secrets *epochSecrets) error {
	th, err := tree.TreeHash()
	if err != nil {
		return err
	}
	gc.TreeHash = th
	st, err := newSecretTree(g.s, secrets.encryption, tree.NumLeaves(), g.cfg.MaxForwardJump, g.cfg.OutOfOrderWindow)
	if err != nil {
		return err
	}
	g.retireEpoch()
	// The secret tree now holds the encryption secret; the joiner and
	// welcome secrets are consumed (RFC 9420, Section 9.2).
	kept := *secrets
	kept.joiner, kept.welcome, kept.encryption = nil, nil, nil
	g.gc, g.tree, g.secrets = gc, tree, &kept
	g.proposals, g.updateKeys = nil, nil
	if g.resumption == nil {
		g.resumption = map[uint64]secret{}
	}
	g.resumption[gc.Epoch] = secrets.resumption
	delete(g.resumption, gc.Epoch-resumptionEpochs)
	g.framer = g.newFramer(&g.gc, secrets, st)
	return nil
}

// newFramer returns the message protection of an epoch.
func (g *Group) newFramer(gc *GroupContext, secrets *epochSecrets, st *secretTree) *framer {
	return &framer{
		s: g.s, gc: gc, membershipKey: secrets.membership, senderDataSecret: secrets.senderData,
		tree: st, rand: g.cfg.rand(), paddingBlock: g.cfg.PaddingBlock,
	}
}

// retireEpoch moves the current epoch, if any, to the past epochs,
// dropping the oldest beyond the configured count.
func (g *Group) retireEpoch() {
	if g.framer == nil {
		return
	}
	pe := &pastEpoch{gc: g.gc, tree: g.tree, framer: g.framer}
	pe.framer.gc = &pe.gc
	g.past = append(g.past, pe)
	if n := len(g.past) - g.cfg.keepEpochs(); n > 0 {
		clear(g.past[:n])
		g.past = g.past[n:]
	}
}

// pastFramer returns the framer and sender-key lookup of a kept past
// epoch.
func (g *Group) pastFramer(epoch uint64) (*framer, signerKey, bool) {
	for _, pe := range g.past {
		if pe.gc.Epoch == epoch {
			lookup := func(c *FramedContent) (SignaturePublicKey, error) { return leafKey(pe.tree, c) }
			return pe.framer, lookup, true
		}
	}
	return nil, nil, false
}

// GroupID returns the group's id.
func (g *Group) GroupID() []byte { return bytes.Clone(g.gc.GroupID) }

// Epoch returns the current epoch number.
func (g *Group) Epoch() uint64 { return g.gc.Epoch }

// CipherSuite returns the group's cipher suite.
func (g *Group) CipherSuite() CipherSuite { return g.gc.CipherSuite }

// LeafIndex returns this member's leaf.
func (g *Group) LeafIndex() LeafIndex { return g.priv.Leaf() }

// GroupContext returns a copy of the current GroupContext.
func (g *Group) GroupContext() GroupContext {
	gc := g.gc
	gc.GroupID = bytes.Clone(gc.GroupID)
	gc.Extensions = slices.Clone(gc.Extensions)
	return gc
}

// Tree returns the group's ratchet tree; callers must not modify it.
func (g *Group) Tree() *RatchetTree { return g.tree }

// Member is one member of the group as its leaf shows it.
type Member struct {
	Leaf         LeafIndex
	Credential   Credential
	SignatureKey SignaturePublicKey
}

// Members lists the group's members in leaf order.
func (g *Group) Members() []Member {
	var out []Member
	for i := LeafIndex(0); uint32(i) < g.tree.NumLeaves(); i++ {
		if ln := g.tree.Leaf(i); ln != nil {
			out = append(out, Member{Leaf: i, Credential: ln.Credential, SignatureKey: ln.SignatureKey})
		}
	}
	return out
}

// EpochAuthenticator returns the epoch's authenticator: members who see
// the same value agree on the group's state (RFC 9420, Section 8.7).
func (g *Group) EpochAuthenticator() []byte { return bytes.Clone(g.secrets.authenticator) }

// Export is MLS-Exporter(label, context, length) for the current epoch
// (RFC 9420, Section 8.5), for example to key SFrame.
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	return g.s.export(g.secrets.exporter, label, context, length)
}

// canSend reports why this member may not send, if it may not.
func (g *Group) canSend() error {
	switch {
	case g.removed:
		return ErrRemoved
	case g.reinit:
		return ErrReInit
	}
	return nil
}

// memberKey returns the signature key of a member sender.
func (g *Group) memberKey(c *FramedContent) (SignaturePublicKey, error) { return leafKey(g.tree, c) }

// leafKey returns the signature key of a member sender in tree.
func leafKey(tree *RatchetTree, c *FramedContent) (SignaturePublicKey, error) {
	if c.Sender.Type != SenderMember {
		return nil, fmt.Errorf("%w: sender type %d", ErrUnknownSender, c.Sender.Type)
	}
	ln := tree.Leaf(LeafIndex(c.Sender.Index))
	if ln == nil {
		return nil, fmt.Errorf("%w: leaf %d is blank", ErrUnknownSender, c.Sender.Index)
	}
	return ln.SignatureKey, nil
}

// Encrypt protects application data as an MLSMessage carrying a
// PrivateMessage. authenticatedData travels in the clear but is
// authenticated.
func (g *Group) Encrypt(plaintext, authenticatedData []byte) ([]byte, error) {
	if err := g.canSend(); err != nil {
		return nil, err
	}
	c := FramedContent{
		GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: Sender{Type: SenderMember, Index: uint32(g.LeafIndex())},
		AuthenticatedData: authenticatedData, ContentType: ContentApplication, ApplicationData: plaintext,
	}
	ac := AuthenticatedContent{WireFormat: WireFormatPrivateMessage, Content: c}
	if err := g.s.signContentScratch(&g.framer.scratch, &ac, g.framer.gc, g.sigKey); err != nil {
		return nil, fmt.Errorf("encrypt: sign content: %w", err)
	}
	wire, err := g.framer.sealPrivate(&ac)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return wire, nil
}

// consume is a received PrivateMessage's ratchet update, applied to
// the secret tree of the epoch it was sent in once the message has been
// accepted: a message that fails changes no state.
type consume struct {
	f *framer // nil: nothing to consume
	u ratchetUpdate
}

func (c *consume) apply() error {
	if c.f == nil {
		return nil
	}
	return c.f.tree.apply(&c.u)
}

// unprotectApplication decrypts a PrivateMessage of the current epoch or
// an application PrivateMessage of a kept past epoch.
func (g *Group) unprotectApplication(pm *PrivateMessage) (*AuthenticatedContent, consume, error) {
	f, key := g.framer, signerKey(g.memberKey)
	if pm.Epoch != g.gc.Epoch && pm.ContentType == ContentApplication {
		if pf, pkey, ok := g.pastFramer(pm.Epoch); ok {
			f, key = pf, pkey
		}
	}
	ac, u, err := f.openPrivate(pm, key)
	if err != nil {
		return nil, consume{}, err
	}
	return ac, consume{f: f, u: u}, nil
}

// ApplicationMessage is a decrypted, authenticated application message.
type ApplicationMessage struct {
	Sender            LeafIndex
	Data              []byte
	AuthenticatedData []byte
}

// Decrypt parses, decrypts and authenticates an MLSMessage carrying an
// application PrivateMessage of the current epoch. Handshake messages
// are refused with ErrInvalidContent.
func (g *Group) Decrypt(wire []byte) (*ApplicationMessage, error) {
	if g.removed {
		return nil, ErrRemoved
	}
	// The message's fields alias wire, which the caller owns: only the
	// authenticated data is returned, and it is copied. The content is
	// decrypted into a fresh buffer.
	var pm PrivateMessage
	r := reader{b: wire, maxLen: g.cfg.maxVectorLen(), alias: true}
	if !decodePrivateMLSMessage(&r, &pm) {
		// Another wire format: parse it all, so that a malformed
		// message fails as one.
		if _, err := ParseMLSMessage(wire); err != nil {
			return nil, fmt.Errorf("decrypt: %w", err)
		}
		return nil, fmt.Errorf("%w: not an application private message", ErrInvalidContent)
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	if pm.ContentType != ContentApplication {
		return nil, fmt.Errorf("%w: not an application private message", ErrInvalidContent)
	}
	ac, c, err := g.unprotectApplication(&pm)
	if err == nil {
		err = c.apply()
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return &ApplicationMessage{
		Sender: LeafIndex(ac.Content.Sender.Index), Data: ac.Content.ApplicationData,
		AuthenticatedData: bytes.Clone(ac.Content.AuthenticatedData),
	}, nil
}

// GroupInfo returns a signed GroupInfo for the current epoch (RFC 9420,
// Section 12.4.3), carrying the external_pub extension (for external
// joins) and, if withTree, the ratchet_tree extension.
func (g *Group) GroupInfo(withTree bool) (*GroupInfo, error) {
	ext, err := g.s.externalKeyPair(g.secrets.external)
	if err != nil {
		return nil, err
	}
	gi := &GroupInfo{
		GroupContext:    g.gc,
		Extensions:      []Extension{{Type: ExtensionExternalPub, Data: marshalExternalPub(ext.PublicKey())}},
		ConfirmationTag: g.s.confirmationTag(g.secrets.confirmation, g.gc.ConfirmedTranscriptHash),
		Signer:          g.LeafIndex(),
	}
	if withTree {
		tree, err := g.tree.Marshal()
		if err != nil {
			return nil, err
		}
		gi.Extensions = append(gi.Extensions, Extension{Type: ExtensionRatchetTree, Data: tree})
	}
	if err := g.s.signGroupInfo(gi, g.sigKey); err != nil {
		return nil, fmt.Errorf("group info: %w", err)
	}
	return gi, nil
}
