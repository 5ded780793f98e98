package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/client/localstore"
	"github.com/sealine/sealine/mls"
)

// Group ids say what kind of conversation a group is, so a server cannot
// turn a group into a 1:1 or pretend a 1:1 is with someone else:
//
//	direct  'd' | SHA-256("sealine/v1/direct" 0 low_user_id 0 high_user_id)[:16] | random [16]
//	group   'g' | random [32]
//
// The group id is part of every MLS GroupContext, so all members agree on
// it; a joiner checks a direct conversation's id against its two users.
const (
	directPrefix = 'd'
	groupPrefix  = 'g'
)

func directTag(a, b string) []byte {
	if b < a {
		a, b = b, a
	}
	h := sha256.Sum256([]byte("sealine/v1/direct\x00" + a + "\x00" + b))
	return h[:16]
}

func (m *Messenger) newGroupID(direct bool, peer string) ([]byte, error) {
	id := []byte{groupPrefix}
	n := 32
	if direct {
		id, n = append([]byte{directPrefix}, directTag(m.me.UserID, peer)...), 16
	}
	r := make([]byte, n)
	if _, err := io.ReadFull(m.c.rand, r); err != nil {
		return nil, fmt.Errorf("group id: %w", err)
	}
	return append(id, r...), nil
}

// isDirectWith reports whether groupID is a direct conversation of me and peer.
func (m *Messenger) isDirectWith(groupID []byte, peer string) bool {
	return len(groupID) == 33 && groupID[0] == directPrefix && bytes.Equal(groupID[1:17], directTag(m.me.UserID, peer))
}

// ConversationInfo describes a conversation this device is in.
type ConversationInfo struct {
	ID      string
	Direct  bool
	Peer    string // user id of the other user of a direct conversation
	Name    string
	Epoch   uint64
	Members []Member
	Lost    bool // the MLS state was not restored (see ErrStateLost)
}

// Conversations lists this device's conversations.
func (m *Messenger) Conversations() []ConversationInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ConversationInfo, 0, len(m.groups))
	for id, cv := range m.groups {
		info := ConversationInfo{ID: id, Direct: cv.rec.Direct, Peer: cv.rec.Peer, Name: cv.rec.Name, Epoch: cv.rec.Epoch, Lost: cv.g == nil}
		if cv.g != nil {
			info.Members = members(cv.g)
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ConversationInfo) int { return cmpString(a.ID, b.ID) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// members lists the devices in g's tree.
func members(g *mls.Group) []Member {
	var out []Member
	t := g.Tree()
	for i := range t.NumLeaves() {
		if ln := t.Leaf(mls.LeafIndex(i)); ln != nil {
			if who, ok := parseIdentity(ln.Credential); ok {
				out = append(out, who)
			}
		}
	}
	return out
}

// leafCount is the number of leaf slots in g's tree (blank or not).
func leafCount(g *mls.Group) uint32 { return g.Tree().NumLeaves() }

// memberAt returns the device at leaf i.
func memberAt(g *mls.Group, i mls.LeafIndex) (Member, bool) {
	ln := g.Tree().Leaf(i)
	if ln == nil {
		return Member{}, false
	}
	return parseIdentity(ln.Credential)
}

// Direct returns the direct conversation with the user peerUsername,
// creating it (with all of both users' devices) if this device has none.
func (m *Messenger) Direct(ctx context.Context, peerUsername string) (string, error) {
	m.op.Lock()
	defer m.op.Unlock()
	if id, ok := m.existingDirect(peerUsername); ok {
		return id, nil
	}
	peers, err := m.claim(ctx, peerUsername, "")
	if err != nil {
		return "", err
	}
	if len(peers) == 0 {
		return "", fmt.Errorf("%w: %s", ErrNoKeyPackages, peerUsername)
	}
	peer := peers[0].member.UserID
	if peer == m.me.UserID {
		return "", fmt.Errorf("%w: cannot open a direct conversation with yourself", ErrDirectMembers)
	}
	if id, ok := m.directWith(peer); ok { // learned the user id only now
		return id, nil
	}
	mine, err := m.claimOwn(ctx)
	if err != nil {
		return "", err
	}
	return m.create(ctx, true, peer, peerUsername, append(peers, mine...))
}

func (m *Messenger) existingDirect(peerUsername string) (string, bool) {
	var peer string
	m.store.View(func(tx *localstore.Tx) error {
		peer, _ = tx.UserID(peerUsername)
		return nil
	})
	return m.directWith(peer)
}

// directWith returns the direct conversation with user id peer.
func (m *Messenger) directWith(peer string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, cv := range m.groups {
		if peer != "" && cv.rec.Direct && cv.rec.Peer == peer && cv.g != nil {
			return id, true
		}
	}
	return "", false
}

// claimOwn claims KeyPackages of this user's other devices (none is fine).
func (m *Messenger) claimOwn(ctx context.Context) ([]claimed, error) {
	mine, err := m.claim(ctx, "", m.me.UserID)
	if errors.Is(err, ErrNoKeyPackages) {
		return nil, nil
	}
	return mine, err
}

// CreateGroup creates a group conversation named name with every device
// of each member (usernames) and this user's other devices.
func (m *Messenger) CreateGroup(ctx context.Context, name string, usernames ...string) (string, error) {
	m.op.Lock()
	defer m.op.Unlock()
	var adds []claimed
	for _, u := range usernames {
		c, err := m.claim(ctx, u, "")
		if err != nil {
			return "", fmt.Errorf("%s: %w", u, err)
		}
		adds = append(adds, c...)
	}
	mine, err := m.claimOwn(ctx)
	if err != nil {
		return "", err
	}
	id, err := m.create(ctx, false, "", name, append(adds, mine...))
	if err != nil || name == "" {
		return id, err
	}
	return id, m.sendLocked(ctx, id, &Content{Kind: ContentGroupName, Name: name}, false)
}

// create makes the group at epoch 0, registers it and commits the adds.
func (m *Messenger) create(ctx context.Context, direct bool, peer, name string, adds []claimed) (string, error) {
	gid, err := m.newGroupID(direct, peer)
	if err != nil {
		return "", err
	}
	kp, priv, err := m.ownKeyPackage()
	if err != nil {
		return "", err
	}
	exts, err := m.groupExtensions(ctx, kp.CipherSuite)
	if err != nil {
		return "", err
	}
	g, err := mls.NewGroup(m.mlsConfig(), gid, kp, priv, m.sig, exts)
	if err != nil {
		return "", fmt.Errorf("new group: %w", err)
	}
	kind := sealinev1.Conversation_KIND_GROUP
	if direct {
		kind = sealinev1.Conversation_KIND_DIRECT
	}
	resp, err := call(ctx, m.c, connect.NewRequest(&sealinev1.CreateConversationRequest{GroupId: gid, Kind: kind, ExternalSender: len(exts) > 0}), m.convs.CreateConversation)
	if err != nil {
		return "", fmt.Errorf("create conversation: %w", rpcErr(err))
	}
	id := resp.GetConversation().GetId()
	cv := &conversation{g: g, rec: localstore.Group{ConvID: id, GroupID: gid, Direct: direct, Peer: peer, Name: name}}
	m.mu.Lock()
	err = m.saveGroup(cv)
	if err == nil {
		m.groups[id] = cv
	}
	m.mu.Unlock()
	if err != nil {
		return "", err
	}
	return id, m.commitAdds(ctx, id, adds)
}

// ownKeyPackage makes a KeyPackage for a group this device creates.
func (m *Messenger) ownKeyPackage() (*mls.KeyPackage, *mls.KeyPackagePrivate, error) {
	_, rec, err := m.newKeyPackage(false)
	if err != nil {
		return nil, nil, err
	}
	return parseKeyPackagePrivate(rec.Private)
}

// saveGroup writes cv's record. m.mu must be held.
func (m *Messenger) saveGroup(cv *conversation) error {
	return m.store.Update(func(tx *localstore.Tx) error { return m.putGroup(tx, cv) })
}

func (m *Messenger) putGroup(tx *localstore.Tx, cv *conversation) error {
	if cv.g != nil {
		state, err := marshalGroup(cv.g)
		if err != nil {
			return err
		}
		cv.rec.Epoch, cv.rec.State = cv.g.Epoch(), state
	}
	return tx.PutGroup(cv.rec)
}

// Add adds every device of each user (by username) to a conversation.
func (m *Messenger) Add(ctx context.Context, convID string, usernames ...string) error {
	m.op.Lock()
	defer m.op.Unlock()
	if err := m.checkNotDirect(convID); err != nil {
		return err
	}
	var adds []claimed
	for _, u := range usernames {
		c, err := m.claim(ctx, u, "")
		if err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		adds = append(adds, c...)
	}
	return m.commitAdds(ctx, convID, adds)
}

func (m *Messenger) checkNotDirect(convID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cv, ok := m.groups[convID]
	if !ok {
		return ErrNoConversation
	}
	if cv.rec.Direct {
		return ErrDirectMembers
	}
	return nil
}

// commitAdds commits Add proposals for the claimed devices not yet in
// the group.
func (m *Messenger) commitAdds(ctx context.Context, convID string, adds []claimed) error {
	return m.commit(ctx, convID, func(g *mls.Group) (change, error) {
		var ch change
		present := map[Member]bool{}
		for _, who := range members(g) {
			present[who] = true
		}
		for _, a := range adds {
			if !present[a.member] {
				present[a.member] = true
				ch.params.Add = append(ch.params.Add, a.kp)
				ch.added = append(ch.added, a.member)
			}
		}
		return ch, nil
	})
}

// Remove removes every device of each user (by username or user id).
func (m *Messenger) Remove(ctx context.Context, convID string, users ...string) error {
	m.op.Lock()
	defer m.op.Unlock()
	if err := m.checkNotDirect(convID); err != nil {
		return err
	}
	ids := map[string]bool{}
	err := m.store.View(func(tx *localstore.Tx) error {
		for _, u := range users {
			id, err := tx.UserID(u)
			if errors.Is(err, localstore.ErrNotFound) {
				id = u // a user id
			} else if err != nil {
				return err
			}
			ids[id] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	return m.commitRemoves(ctx, convID, func(who Member) bool { return ids[who.UserID] && who != m.me })
}

// commitRemoves commits Remove proposals for the devices drop selects
// (m.mu is held when drop runs).
func (m *Messenger) commitRemoves(ctx context.Context, convID string, drop func(Member) bool) error {
	return m.commit(ctx, convID, func(g *mls.Group) (change, error) {
		var ch change
		t := g.Tree()
		for i, n := mls.LeafIndex(0), leafCount(g); uint32(i) < n; i++ {
			if ln := t.Leaf(i); ln != nil {
				if who, ok := parseIdentity(ln.Credential); ok && drop(who) {
					ch.params.Remove = append(ch.params.Remove, i)
				}
			}
		}
		return ch, nil
	})
}

// Members returns the devices in a conversation.
func (m *Messenger) Members(convID string) ([]Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cv, err := m.liveLocked(convID)
	if err != nil {
		return nil, err
	}
	return members(cv.g), nil
}

// liveLocked returns a conversation whose MLS state is usable.
func (m *Messenger) liveLocked(convID string) (*conversation, error) {
	cv, ok := m.groups[convID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoConversation, convID)
	}
	if cv.g == nil {
		return nil, fmt.Errorf("%w: %s", ErrStateLost, convID)
	}
	return cv, nil
}

// Leave removes this device from a conversation: it proposes its own
// removal (another member commits it) and forgets the conversation.
func (m *Messenger) Leave(ctx context.Context, convID string) error {
	m.op.Lock()
	defer m.op.Unlock()
	for range m.cfg.CommitRetries {
		m.mu.Lock()
		cv, err := m.liveLocked(convID)
		if err != nil {
			m.mu.Unlock()
			return err
		}
		epoch := cv.g.Epoch()
		prop, err := cv.g.Propose(&mls.Proposal{Type: mls.ProposalRemove, Removed: cv.g.LeafIndex()})
		m.mu.Unlock()
		if err != nil {
			return fmt.Errorf("leave: %w", err)
		}
		req := &sealinev1.ProposeRequest{ConversationId: convID, Epoch: epoch, Proposal: prop, Leave: true}
		_, err = call(ctx, m.c, connect.NewRequest(req), m.convs.Propose)
		if err = rpcErr(err); errors.Is(err, ErrStaleEpoch) {
			if err := m.waitEpoch(ctx, convID, epoch); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("leave: %w", err)
		}
		return m.forget(ctx, convID, Member{})
	}
	return ErrTooManyRetries
}

// forget drops a conversation's group state (its history stays).
func (m *Messenger) forget(ctx context.Context, convID string, by Member) error {
	m.mu.Lock()
	delete(m.groups, convID)
	err := m.store.Update(func(tx *localstore.Tx) error { return tx.DeleteGroup(convID) })
	m.mu.Unlock()
	if err == nil {
		m.emit(ctx, &LeftEvent{ConvID: convID, By: by})
	}
	return err
}

// Username returns the username this device learned for a user id (from
// key package claims, or looked up for the users it hears from: see
// ResolveUsernames), or "" if it knows none.
func (m *Messenger) Username(userID string) string {
	var name string
	m.store.View(func(tx *localstore.Tx) error {
		name, _ = tx.Username(userID)
		return nil
	})
	return name
}
