package client

import (
	"context"
	"fmt"

	"github.com/sealine/sealine/mls"
)

// SyncOwnDevices brings this user's devices in every conversation in line
// with the account's device list: a device logged in since a conversation
// was made is added, and a revoked (or logged out) device is removed, so
// that remote logout also ends its access to new messages. It returns how
// many conversations changed.
//
// The server's device list is trusted here (it is the Authentication
// Service); each addition is announced to the members in a MemberEvent.
// Claiming KeyPackages hands out one of each of the user's devices per
// conversation that needs an addition.
func (m *Messenger) SyncOwnDevices(ctx context.Context) (int, error) {
	devs, err := m.c.Devices(ctx)
	if err != nil {
		return 0, err
	}
	active := map[string]bool{}
	for _, d := range devs {
		active[d.ID] = true
	}
	m.op.Lock()
	defer m.op.Unlock()
	changed := 0
	for _, conv := range m.ownDeviceWork(active) {
		if err := m.syncOwnDevices(ctx, conv, active); err != nil {
			return changed, fmt.Errorf("%s: %w", conv, err)
		}
		changed++
	}
	return changed, nil
}

// ownDeviceWork lists the conversations whose own-device members differ
// from active.
func (m *Messenger) ownDeviceWork(active map[string]bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, cv := range m.groups {
		if cv.g != nil && !sameDevices(ownDevices(cv.g, m.me.UserID), active) {
			out = append(out, id)
		}
	}
	return out
}

func ownDevices(g *mls.Group, user string) map[string]bool {
	out := map[string]bool{}
	for _, who := range members(g) {
		if who.UserID == user {
			out[who.DeviceID] = true
		}
	}
	return out
}

func sameDevices(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for d := range a {
		if !b[d] {
			return false
		}
	}
	return true
}

// syncOwnDevices adds the missing active devices and removes the
// inactive ones in one Commit. m.op must be held.
func (m *Messenger) syncOwnDevices(ctx context.Context, conv string, active map[string]bool) error {
	var adds []claimed
	m.mu.Lock()
	cv, err := m.liveLocked(conv)
	missing := false
	if err == nil {
		have := ownDevices(cv.g, m.me.UserID)
		for d := range active {
			missing = missing || !have[d]
		}
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if missing {
		mine, err := m.claimOwn(ctx)
		if err != nil {
			return err
		}
		for _, c := range mine {
			if active[c.member.DeviceID] {
				adds = append(adds, c)
			}
		}
	}
	return m.commit(ctx, conv, func(g *mls.Group) (change, error) {
		var ch change
		present := map[Member]bool{}
		for i := range g.Tree().NumLeaves() {
			who, ok := memberAt(g, mls.LeafIndex(i))
			present[who] = ok
			if ok && who.UserID == m.me.UserID && !active[who.DeviceID] && who != m.me {
				ch.params.Remove = append(ch.params.Remove, mls.LeafIndex(i))
			}
		}
		for _, a := range adds {
			if !present[a.member] {
				ch.params.Add = append(ch.params.Add, a.kp)
				ch.added = append(ch.added, a.member)
			}
		}
		return ch, nil
	})
}
