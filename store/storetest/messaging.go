package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// messagingTests are the cases of store.Messaging.
var messagingTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"KeyPackages", testKeyPackages},
	{"KeyPackageQuota", testKeyPackageQuota},
	{"Conversations", testConversations},
	{"CoMembers", testCoMembers},
	{"SendFanOut", testSendFanOut},
	{"SendRefused", testSendRefused},
	{"SendIdempotent", testSendIdempotent},
	{"CommitMembership", testCommitMembership},
	{"BatchIsolation", testBatchIsolation},
	{"BatchEpoch", testBatchEpoch},
	{"BatchQueueBound", testBatchQueueBound},
	{"BatchLargeGroup", testBatchLargeGroup},
	{"BatchAckDrops", testBatchAckDrops},
	{"BatchManyRooms", testBatchManyRooms},
	{"BatchDuplicates", testBatchDuplicates},
	{"BatchAcks", testBatchAcks},
	{"QueueBound", testQueueBound},
	{"Ack", testAck},
	{"WriteAcks", testWriteAcks},
	{"Blobs", testBlobs},
	{"ExternalSenders", testExternalSenders},
}

// room is a conversation with devices of two users, all members.
type room struct {
	conv   store.Conversation
	a, b   account
	a2     store.Device
	member []string // sorted device ids
}

// newRoom creates alice (two devices) and bob, and a conversation of
// alice's first device to which a commit adds the other two.
func newRoom(t *testing.T, s store.Store, name string) room {
	t.Helper()
	r := room{a: newAccount(name + "-a"), b: newAccount(name + "-b")}
	mustCreate(t, s, r.a)
	mustCreate(t, s, r.b)
	d2, s2 := newDevice(r.a.u.ID, name+"-a-2", t0.Add(time.Second))
	mustCreateDevice(t, s, d2, s2)
	r.a2 = d2
	r.conv = store.Conversation{ID: "c-" + name, GroupID: []byte("group-" + name), Kind: store.KindGroup, CreatedAt: t0}
	wantNoErr(t, "CreateConversation", s.CreateConversation(t.Context(), r.conv, r.a.u.ID, r.a.d.ID))
	c := r.commit("add", 0)
	c.Added = []string{d2.ID, r.b.d.ID}
	c.Welcomes = []store.Welcome{{ID: "w-" + name, Payload: []byte("welcome"), DeviceIDs: c.Added}}
	mustPost(t, s, c)
	r.conv.Epoch = 1
	r.member = slices.Sorted(slices.Values([]string{r.a.d.ID, d2.ID, r.b.d.ID}))
	return r
}

// send is an application message from alice's first device.
func (r room) send(id string, epoch uint64) store.Post {
	return store.Post{
		ID: "m-" + r.conv.ID + "-" + id, Kind: store.EnvelopeApplication, ConversationID: r.conv.ID,
		GroupID: r.conv.GroupID, SenderUserID: r.a.u.ID, SenderDeviceID: r.a.d.ID,
		ClientMessageID: []byte("cmid-" + id), Epoch: epoch, Payload: []byte("ciphertext-" + id),
		At: t0, MaxQueue: 1000,
	}
}

// commit is a commit from alice's first device.
func (r room) commit(id string, epoch uint64) store.Post {
	p := r.send(id, epoch)
	p.Kind, p.ClientMessageID, p.Payload = store.EnvelopeCommit, nil, []byte("commit-"+id)
	return p
}

func postOne(t *testing.T, s store.Store, p store.Post) store.PostResult {
	t.Helper()
	res, err := s.Post(t.Context(), []store.Post{p})
	wantNoErr(t, "Post", err)
	if len(res) != 1 {
		t.Fatalf("Post returned %d results, want 1", len(res))
	}
	return res[0]
}

func mustPost(t *testing.T, s store.Store, p store.Post) store.PostResult {
	t.Helper()
	res := postOne(t, s, p)
	wantNoErr(t, "Post "+p.ID, res.Err)
	return res
}

// queue returns every envelope of the device.
func queue(t *testing.T, s store.Store, deviceID string) []store.Envelope {
	t.Helper()
	env, err := s.Envelopes(t.Context(), deviceID, 0, 100000)
	wantNoErr(t, "Envelopes", err)
	return env
}

// snapshot is every queue of the room's devices, for "nothing changed".
func (r room) snapshot(t *testing.T, s store.Store) map[string][]store.Envelope {
	out := map[string][]store.Envelope{}
	for _, d := range r.member {
		out[d] = queue(t, s, d)
	}
	return out
}

func testKeyPackages(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("kp")
	mustCreate(t, s, a)
	kps := []store.KeyPackage{kp(a, "1", 1), kp(a, "2", 2), kp(a, "3", 3)}
	last := kp(a, "last", 4)
	n, err := s.AddKeyPackages(ctx, kps, &last, 10)
	wantNoErr(t, "AddKeyPackages", err)
	if n != 3 {
		t.Fatalf("available = %d, want 3", n)
	}
	n, err = s.AddKeyPackages(ctx, kps[:1], nil, 10)
	if err != nil || n != 3 {
		t.Fatalf("re-adding a stored ref: %d, %v; want 3, nil", n, err)
	}
	for _, want := range kps {
		got, err := s.ClaimKeyPackage(ctx, a.d.ID)
		wantNoErr(t, "ClaimKeyPackage", err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("claimed %+v, want %+v (oldest first)", got, want)
		}
	}
	for range 2 {
		got, err := s.ClaimKeyPackage(ctx, a.d.ID)
		wantNoErr(t, "ClaimKeyPackage(last resort)", err)
		last.LastResort = true
		if !reflect.DeepEqual(got, last) {
			t.Fatalf("claimed %+v, want the last resort %+v", got, last)
		}
	}
	avail, hasLast, err := s.KeyPackageCount(ctx, a.d.ID)
	if err != nil || avail != 0 || !hasLast {
		t.Fatalf("KeyPackageCount = %d, %v, %v; want 0, true", avail, hasLast, err)
	}
	_, err = s.ClaimKeyPackage(ctx, "d-nobody")
	wantErr(t, "ClaimKeyPackage(no packages)", err, store.ErrNotFound)
}

// kp is a key package of the account's first device.
func kp(a account, name string, sec int) store.KeyPackage {
	return store.KeyPackage{
		Ref: sum("ref-" + a.d.ID + name), UserID: a.u.ID, DeviceID: a.d.ID,
		Data: []byte("kp-" + name), CreatedAt: t0.Add(time.Duration(sec) * time.Second),
	}
}

// testKeyPackageQuota: an upload past the bound writes nothing.
func testKeyPackageQuota(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("kpq")
	mustCreate(t, s, a)
	var kps []store.KeyPackage
	for i := range 5 {
		kps = append(kps, kp(a, fmt.Sprint(i), i))
	}
	_, err := s.AddKeyPackages(ctx, kps[:3], nil, 4)
	wantNoErr(t, "AddKeyPackages", err)
	last := kp(a, "last", 9)
	_, err = s.AddKeyPackages(ctx, kps[3:], &last, 4)
	wantErr(t, "AddKeyPackages(past bound)", err, store.ErrQuota)
	avail, hasLast, err := s.KeyPackageCount(ctx, a.d.ID)
	if err != nil || avail != 3 || hasLast {
		t.Fatalf("after refused upload: %d, %v, %v; want 3, false", avail, hasLast, err)
	}
}

func testConversations(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "conv")
	got, err := s.Conversation(ctx, r.conv.ID)
	wantNoErr(t, "Conversation", err)
	if !reflect.DeepEqual(got, r.conv) {
		t.Errorf("Conversation = %+v, want %+v", got, r.conv)
	}
	dup := r.conv
	dup.ID = "c-other"
	err = s.CreateConversation(ctx, dup, r.a.u.ID, r.a.d.ID)
	wantErr(t, "CreateConversation(same group id)", err, store.ErrConflict)
	err = s.CreateConversation(ctx, store.Conversation{ID: "c-x", GroupID: []byte("x")}, r.b.u.ID, r.a.d.ID)
	wantErr(t, "CreateConversation(foreign device)", err, store.ErrNoDevice)
	list, err := s.ConversationsOf(ctx, r.b.d.ID)
	wantNoErr(t, "ConversationsOf", err)
	if len(list) != 1 || list[0].ID != r.conv.ID {
		t.Errorf("ConversationsOf = %+v", list)
	}
	members, err := s.Members(ctx, r.conv.ID)
	wantNoErr(t, "Members", err)
	if !reflect.DeepEqual(members, r.member) {
		t.Errorf("Members = %v, want %v", members, r.member)
	}
	_, err = s.Conversation(ctx, "c-nothing")
	wantErr(t, "Conversation(unknown)", err, store.ErrNotFound)
}

// testSendFanOut: a message reaches every other member, not the sender,
// with per-device cursors that follow the welcome.
func testSendFanOut(t *testing.T, s store.Store) {
	r := newRoom(t, s, "fan")
	res := mustPost(t, s, r.send("hello", 1))
	if res.Duplicate || !reflect.DeepEqual(res.Recipients, []string{r.a2.ID, r.b.d.ID}) {
		t.Fatalf("result = %+v", res)
	}
	if env := queue(t, s, r.a.d.ID); len(env) != 1 || env[0].Kind != store.EnvelopeCommit {
		t.Errorf("sender's queue = %+v, want only its commit", env)
	}
	for _, d := range []string{r.a2.ID, r.b.d.ID} {
		env := queue(t, s, d)
		if len(env) != 2 || env[0].Kind != store.EnvelopeWelcome || env[0].Cursor != 1 {
			t.Fatalf("%s queue = %+v, want welcome then message", d, env)
		}
		want := store.Envelope{Cursor: 2, ConversationID: r.conv.ID, Kind: store.EnvelopeApplication, Epoch: 1,
			Payload: []byte("ciphertext-hello"), SenderDeviceID: r.a.d.ID, ServerTime: t0}
		if !reflect.DeepEqual(env[1], want) {
			t.Errorf("%s got %+v, want %+v", d, env[1], want)
		}
	}
}

// testSendRefused: a non-member, a stale epoch and another group's message
// are refused with their errors and change nothing.
func testSendRefused(t *testing.T, s store.Store) {
	r := newRoom(t, s, "refuse")
	stranger := newAccount("refuse-stranger")
	mustCreate(t, s, stranger)
	tests := []struct {
		name string
		edit func(p *store.Post)
		want error
	}{
		{"not member", func(p *store.Post) { p.SenderDeviceID, p.SenderUserID = stranger.d.ID, stranger.u.ID }, store.ErrNotMember},
		{"no conversation", func(p *store.Post) { p.ConversationID = "c-none" }, store.ErrNotMember},
		{"stale epoch", func(p *store.Post) { p.Epoch = 0 }, store.ErrStaleEpoch},
		{"future epoch", func(p *store.Post) { p.Epoch = 2 }, store.ErrStaleEpoch},
		{"other group", func(p *store.Post) { p.GroupID = []byte("elsewhere") }, store.ErrGroupMismatch},
		{"stale commit", func(p *store.Post) { p.Kind, p.ClientMessageID, p.Epoch = store.EnvelopeCommit, nil, 0 }, store.ErrStaleEpoch},
		{"commit adds nobody", func(p *store.Post) {
			p.Kind, p.ClientMessageID, p.Added = store.EnvelopeCommit, nil, []string{"d-nobody"}
		}, store.ErrNoDevice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := r.snapshot(t, s)
			p := r.send("refused-"+tc.name, 1)
			tc.edit(&p)
			wantErr(t, "Post", postOne(t, s, p).Err, tc.want)
			if after := r.snapshot(t, s); !reflect.DeepEqual(before, after) {
				t.Errorf("queues changed: %v -> %v", before, after)
			}
			c, err := s.Conversation(t.Context(), r.conv.ID)
			wantNoErr(t, "Conversation", err)
			if c.Epoch != 1 {
				t.Errorf("epoch = %d, want 1", c.Epoch)
			}
		})
	}
}

// testSendIdempotent: a retry with the same client message id (even
// with another message id or a later epoch) stores nothing.
func testSendIdempotent(t *testing.T, s store.Store) {
	r := newRoom(t, s, "idem")
	mustPost(t, s, r.send("once", 1))
	before := r.snapshot(t, s)
	retry := r.send("once", 1)
	retry.ID = "m-retry"
	res := mustPost(t, s, retry)
	if !res.Duplicate {
		t.Fatalf("retry: %+v, want duplicate", res)
	}
	if after := r.snapshot(t, s); !reflect.DeepEqual(before, after) {
		t.Errorf("a retry changed the queues")
	}
}

// testCommitMembership: a commit moves the epoch, reaches every member
// (the committer too), removes and adds members and sends the Welcome
// only to the added device.
func testCommitMembership(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "member")
	c := newAccount("member-c")
	mustCreate(t, s, c)
	p := r.commit("swap", 1)
	p.Removed, p.Added = []string{r.b.d.ID}, []string{c.d.ID}
	p.Welcomes = []store.Welcome{{ID: "w-swap", Payload: []byte("welcome"), DeviceIDs: []string{c.d.ID}}}
	res := mustPost(t, s, p)
	if res.Epoch != 2 || res.Cursor != 2 {
		t.Errorf("result = %+v, want epoch 2, committer cursor 2", res)
	}
	for _, d := range []string{r.a.d.ID, r.a2.ID, r.b.d.ID} {
		env := queue(t, s, d)
		if last := env[len(env)-1]; last.Kind != store.EnvelopeCommit || string(last.Payload) != "commit-swap" {
			t.Errorf("%s did not get the commit: %+v", d, env)
		}
	}
	if env := queue(t, s, c.d.ID); len(env) != 1 || env[0].Kind != store.EnvelopeWelcome || env[0].Cursor != 1 {
		t.Errorf("added device's queue = %+v, want one welcome", env)
	}
	members, err := s.Members(ctx, r.conv.ID)
	wantNoErr(t, "Members", err)
	want := slices.Sorted(slices.Values([]string{r.a.d.ID, r.a2.ID, c.d.ID}))
	if !reflect.DeepEqual(members, want) {
		t.Errorf("members = %v, want %v", members, want)
	}
	_, err = s.Post(ctx, []store.Post{r.send("late", 1)})
	wantNoErr(t, "Post", err)
	bob := r.send("bob", 2)
	bob.SenderDeviceID, bob.SenderUserID = r.b.d.ID, r.b.u.ID
	wantErr(t, "removed device sends", postOne(t, s, bob).Err, store.ErrNotMember)
}

// testBatchIsolation: in one batch, a failing post leaves no trace and the
// others land in order.
func testBatchIsolation(t *testing.T, s store.Store) {
	r := newRoom(t, s, "batch")
	bad := r.send("bad", 7)
	res, err := s.Post(t.Context(), []store.Post{r.send("x", 1), bad, r.send("y", 1)})
	wantNoErr(t, "Post", err)
	if res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("good posts failed: %+v", res)
	}
	wantErr(t, "bad post", res[1].Err, store.ErrStaleEpoch)
	env := queue(t, s, r.b.d.ID)
	if len(env) != 3 || string(env[1].Payload) != "ciphertext-x" || string(env[2].Payload) != "ciphertext-y" || env[2].Cursor != 3 {
		t.Errorf("queue = %+v, want welcome, x, y at cursors 1..3", env)
	}
}

// testQueueBound: a post that would overflow any recipient's queue is
// refused with ErrQueueFull, for every recipient.
func testQueueBound(t *testing.T, s store.Store) {
	r := newRoom(t, s, "bound")
	for i := range 2 {
		p := r.send(fmt.Sprint(i), 1)
		p.MaxQueue = 3
		mustPost(t, s, p)
	}
	before := r.snapshot(t, s)
	p := r.send("overflow", 1)
	p.MaxQueue = 3
	wantErr(t, "Post(full)", postOne(t, s, p).Err, store.ErrQueueFull)
	if after := r.snapshot(t, s); !reflect.DeepEqual(before, after) {
		t.Errorf("a refused post changed the queues")
	}
	n, err := s.QueueLength(t.Context(), r.b.d.ID)
	if err != nil || n != 3 {
		t.Errorf("QueueLength = %d, %v; want 3", n, err)
	}
}

func testAck(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "ack")
	for i := range 3 {
		mustPost(t, s, r.send(fmt.Sprint(i), 1))
	}
	for _, c := range []uint64{0, 5, 1 << 63} {
		_, err := s.Ack(ctx, r.b.d.ID, c)
		wantErr(t, fmt.Sprintf("Ack(%d)", c), err, store.ErrUnknownCursor)
	}
	if n, _ := s.QueueLength(ctx, r.b.d.ID); n != 4 {
		t.Fatalf("refused acks removed envelopes: %d left", n)
	}
	n, err := s.Ack(ctx, r.b.d.ID, 2)
	if err != nil || n != 2 {
		t.Fatalf("Ack(2) = %d, %v; want 2", n, err)
	}
	if n, err = s.Ack(ctx, r.b.d.ID, 2); err != nil || n != 0 {
		t.Fatalf("Ack(2) again = %d, %v; want 0", n, err)
	}
	env := queue(t, s, r.b.d.ID)
	if len(env) != 2 || env[0].Cursor != 3 {
		t.Fatalf("queue after ack = %+v", env)
	}
	if env := queue(t, s, r.a2.ID); len(env) != 4 {
		t.Errorf("another device's queue lost envelopes: %d left", len(env))
	}
	// The queue keeps its place: new envelopes continue the cursors.
	mustPost(t, s, r.send("after", 1))
	if env := queue(t, s, r.b.d.ID); env[len(env)-1].Cursor != 5 {
		t.Errorf("cursor after ack = %d, want 5", env[len(env)-1].Cursor)
	}
}

// testWriteAcks: acks written with posts in one Write each act as Ack
// does, an unknown cursor fails its ack alone, and the posts are stored.
func testWriteAcks(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "wack")
	for i := range 3 {
		mustPost(t, s, r.send(fmt.Sprint(i), 1))
	}
	// bob and alice's second device hold cursors 1..4 each.
	acks := []store.AckRequest{
		{DeviceID: r.b.d.ID, Cursor: 2},
		{DeviceID: r.a2.ID, Cursor: 99},
		{DeviceID: r.b.d.ID, Cursor: 0},
		{DeviceID: r.a2.ID, Cursor: 1},
		{DeviceID: r.b.d.ID, Cursor: 2},
	}
	want := []store.AckResult{{Removed: 2}, {Err: store.ErrUnknownCursor}, {Err: store.ErrUnknownCursor}, {Removed: 1}, {}}
	res, ackRes, err := s.Write(ctx, []store.Post{r.send("with-acks", 1)}, acks)
	if err != nil || len(res) != 1 || len(ackRes) != len(acks) {
		t.Fatalf("Write = %d, %d results, %v", len(res), len(ackRes), err)
	}
	if res[0].Err != nil || res[0].Duplicate || len(res[0].Recipients) != 2 {
		t.Errorf("post result = %+v", res[0])
	}
	for i, w := range want {
		got := ackRes[i]
		if got.Removed != w.Removed || !errors.Is(got.Err, w.Err) || (w.Err == nil) != (got.Err == nil) {
			t.Errorf("ack %d (%s, %d) = %+v, want %+v", i, acks[i].DeviceID, acks[i].Cursor, got, w)
		}
	}
	if env := queue(t, s, r.b.d.ID); len(env) != 3 || env[0].Cursor != 3 || env[2].Cursor != 5 {
		t.Errorf("bob's queue after Write = %+v", env)
	}
	if env := queue(t, s, r.a2.ID); len(env) != 4 || env[0].Cursor != 2 {
		t.Errorf("second device's queue after Write = %+v", env)
	}
	if n, err := s.QueueLength(ctx, r.b.d.ID); err != nil || n != 3 {
		t.Errorf("QueueLength = %d, %v; want 3", n, err)
	}
	if res, ackRes, err := s.Write(ctx, nil, nil); err != nil || len(res) != 0 || len(ackRes) != 0 {
		t.Errorf("empty Write = %v, %v, %v", res, ackRes, err)
	}
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "blob")
	b := store.Blob{ID: "b-1", ConversationID: r.conv.ID, UserID: r.a.u.ID, Size: 600, CreatedAt: t0}
	wantNoErr(t, "AddBlob", s.AddBlob(ctx, b, 1000))
	got, err := s.Blob(ctx, "b-1")
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("Blob = %+v, %v; want %+v", got, err, b)
	}
	over := b
	over.ID = "b-2"
	wantErr(t, "AddBlob(over quota)", s.AddBlob(ctx, over, 1000), store.ErrQuota)
	_, err = s.Blob(ctx, "b-2")
	wantErr(t, "Blob(refused)", err, store.ErrNotFound)
	used, err := s.BlobUsage(ctx, r.a.u.ID)
	if err != nil || used != 600 {
		t.Fatalf("BlobUsage = %d, %v; want 600", used, err)
	}
	wantErr(t, "AddBlob(same id)", s.AddBlob(ctx, b, 10000), store.ErrConflict)
	if used, _ := s.BlobUsage(ctx, r.a.u.ID); used != 600 {
		t.Errorf("a refused blob counted: usage %d", used)
	}
}
