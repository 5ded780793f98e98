package storetest

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sealine/sealine/store"
)

// testExternalSenders: leaf indexes are kept per member and listed per
// user; a server proposal goes to every member at the current epoch
// only, and a refused one queues nothing.
func testExternalSenders(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "ext")
	leaves := []store.DeviceLeaf{{DeviceID: r.a.d.ID, Leaf: 0}, {DeviceID: r.a2.ID, Leaf: 1},
		{DeviceID: r.b.d.ID, Leaf: 2}, {DeviceID: "not-a-member", Leaf: 5}}
	wantNoErr(t, "SetLeaves", s.SetLeaves(ctx, r.conv.ID, leaves))
	got, err := s.LeavesOfUser(ctx, r.a.u.ID)
	wantNoErr(t, "LeavesOfUser", err)
	want := []store.DeviceLeaf{{ConversationID: r.conv.ID, DeviceID: r.a.d.ID, Leaf: 0}, {ConversationID: r.conv.ID, DeviceID: r.a2.ID, Leaf: 1}}
	slices.SortFunc(want, func(x, y store.DeviceLeaf) int { return strings.Compare(x.DeviceID, y.DeviceID) })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LeavesOfUser = %v, want %v", got, want)
	}

	p := store.ExternalPost{ID: "x-ok", ConversationID: r.conv.ID, GroupID: r.conv.GroupID, Epoch: 1,
		Payload: []byte("remove"), At: t0, MaxQueue: 1000}
	before := r.snapshot(t, s)
	for _, bad := range []struct {
		name string
		edit func(*store.ExternalPost)
		want error
	}{
		{"stale epoch", func(p *store.ExternalPost) { p.Epoch = 0 }, store.ErrStaleEpoch},
		{"other group", func(p *store.ExternalPost) { p.GroupID = []byte("other") }, store.ErrGroupMismatch},
		{"no conversation", func(p *store.ExternalPost) { p.ConversationID = "c-none" }, store.ErrNotFound},
		{"queue full", func(p *store.ExternalPost) { p.MaxQueue = 1 }, store.ErrQueueFull},
	} {
		q := p
		q.ID = "x-" + bad.name
		bad.edit(&q)
		_, err := s.PostExternal(ctx, q)
		wantErr(t, "PostExternal "+bad.name, err, bad.want)
	}
	if !reflect.DeepEqual(r.snapshot(t, s), before) {
		t.Fatal("a refused external post changed a queue")
	}
	res, err := s.PostExternal(ctx, p)
	wantNoErr(t, "PostExternal", err)
	if !reflect.DeepEqual(res.Recipients, r.member) {
		t.Fatalf("recipients = %v, want %v", res.Recipients, r.member)
	}
	for _, d := range r.member {
		q := queue(t, s, d)
		last := q[len(q)-1]
		if last.Kind != store.EnvelopeProposal || last.SenderDeviceID != "" || string(last.Payload) != "remove" || last.Epoch != 1 {
			t.Fatalf("%s: last envelope %+v", d, last)
		}
	}
}
