package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// lifecycleTests are the cases of store.Lifecycle.
var lifecycleTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Contacts", testContacts},
	{"DeleteUser", testDeleteUser},
	{"DeleteUserTwice", testDeleteUserTwice},
	{"DeleteUserDropsQueueCounts", testDeleteUserDropsQueueCounts},
	{"PurgeQueued", testPurgeQueued},
	{"PurgeBlobs", testPurgeBlobs},
	{"PurgeSessions", testPurgeSessions},
	{"PurgeQuarantine", testPurgeQuarantine},
	{"KeyRotation", testKeyRotation},
}

func contact(userID string, kind store.ContactKind, v string) store.Contact {
	return store.Contact{UserID: userID, Kind: kind, ValueEnc: []byte("sealed-" + v),
		BlindIndex: sum(string(kind) + v), IndexKey: "v1:k", SetAt: t0}
}

func testContacts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("contacts")
	mustCreate(t, s, a)
	wantErr(t, "SetContact of a ghost", s.SetContact(ctx, contact("u-ghost", store.ContactPhone, "1")), store.ErrNotFound)
	wantErr(t, "ClearContact unset", s.ClearContact(ctx, a.u.ID, store.ContactEmail), store.ErrNotFound)
	wantNoErr(t, "SetContact email", s.SetContact(ctx, contact(a.u.ID, store.ContactEmail, "e1")))
	wantNoErr(t, "SetContact phone", s.SetContact(ctx, contact(a.u.ID, store.ContactPhone, "p1")))
	wantNoErr(t, "SetContact email again", s.SetContact(ctx, contact(a.u.ID, store.ContactEmail, "e2")))
	got, err := s.Contacts(ctx, a.u.ID)
	wantNoErr(t, "Contacts", err)
	want := []store.Contact{contact(a.u.ID, store.ContactPhone, "p1"), contact(a.u.ID, store.ContactEmail, "e2")}
	if len(got) != 2 || !sameContact(got[0], want[0]) || !sameContact(got[1], want[1]) {
		t.Fatalf("Contacts = %+v, want %+v", got, want)
	}
	ids, err := s.UsersByContact(ctx, store.ContactPhone, want[0].BlindIndex)
	wantNoErr(t, "UsersByContact", err)
	if !slices.Equal(ids, []string{a.u.ID}) {
		t.Fatalf("UsersByContact = %v", ids)
	}
	wantNoErr(t, "ClearContact", s.ClearContact(ctx, a.u.ID, store.ContactPhone))
	if got, _ := s.Contacts(ctx, a.u.ID); len(got) != 1 || got[0].Kind != store.ContactEmail {
		t.Fatalf("Contacts after clear = %+v", got)
	}
}

func sameContact(a, b store.Contact) bool {
	return a.UserID == b.UserID && a.Kind == b.Kind && bytes.Equal(a.ValueEnc, b.ValueEnc) &&
		bytes.Equal(a.BlindIndex, b.BlindIndex) && a.IndexKey == b.IndexKey && a.SetAt.Equal(b.SetAt)
}

// testDeleteUser withdraws alice from a room: her devices leave it, her
// rows go, bob's queue keeps her message without her device id.
func testDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "withdraw")
	mustPost(t, s, r.send("hello", 1))
	wantNoErr(t, "SetContact", s.SetContact(ctx, contact(r.a.u.ID, store.ContactEmail, "a")))
	wantNoErr(t, "AddBlob", s.AddBlob(ctx, store.Blob{ID: "b-withdraw", ConversationID: r.conv.ID,
		UserID: r.a.u.ID, Size: 10, CreatedAt: t0}, 100))
	res, err := s.DeleteUser(ctx, store.Withdrawal{UserID: r.a.u.ID, UsernameIndex: r.a.u.UsernameIndex, At: t0})
	wantNoErr(t, "DeleteUser", err)
	if res.Devices != 2 || res.Sessions != 2 || res.Blobs != 1 || res.Conversations != 0 {
		t.Fatalf("DeleteUser = %+v", res)
	}
	_, err = s.UserByID(ctx, r.a.u.ID)
	wantErr(t, "UserByID", err, store.ErrNotFound)
	_, err = s.SessionByTokenHash(ctx, r.a.s.TokenHash, t0)
	wantErr(t, "SessionByTokenHash", err, store.ErrNotFound)
	members, err := s.Members(ctx, r.conv.ID)
	wantNoErr(t, "Members", err)
	if !slices.Equal(members, []string{r.b.d.ID}) {
		t.Fatalf("Members = %v, want only bob", members)
	}
	for _, e := range queue(t, s, r.b.d.ID) {
		if e.SenderDeviceID == r.a.d.ID || e.SenderDeviceID == r.a2.ID {
			t.Fatalf("bob's queue still names alice's device %s", e.SenderDeviceID)
		}
	}
	if c, _ := s.Contacts(ctx, r.a.u.ID); len(c) != 0 {
		t.Fatalf("contacts remain: %v", c)
	}
	if ids, _ := s.BlobsOf(ctx, r.a.u.ID); len(ids) != 0 {
		t.Fatalf("blobs remain: %v", ids)
	}
	at, err := s.WithdrawnAt(ctx, r.a.u.UsernameIndex)
	wantNoErr(t, "WithdrawnAt", err)
	if !at.Equal(t0) {
		t.Fatalf("WithdrawnAt = %v, want %v", at, t0)
	}
	if n, _ := s.Counter(ctx, "withdrawals"); n != 1 {
		t.Fatalf("withdrawals counter = %d, want 1", n)
	}
}

// testDeleteUserDropsQueueCounts: a withdrawal that deletes a
// conversation left without members deletes the envelopes still queued
// for devices that were removed from it earlier, and lowers those
// devices' queue counts with them: else the queue bound would count
// envelopes that are gone.
func testDeleteUserDropsQueueCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "dropq")
	mustPost(t, s, r.send("one", 1))
	mustPost(t, s, r.send("two", 1))
	remove := r.commit("remove-bob", 1)
	remove.Removed = []string{r.b.d.ID}
	mustPost(t, s, remove)
	held := len(queue(t, s, r.b.d.ID)) // the add, two messages, the remove: unacked
	if held == 0 {
		t.Fatal("bob's queue is empty before the withdrawal")
	}
	res, err := s.DeleteUser(ctx, store.Withdrawal{UserID: r.a.u.ID, UsernameIndex: r.a.u.UsernameIndex, At: t0})
	wantNoErr(t, "DeleteUser", err)
	if res.Conversations != 1 {
		t.Fatalf("DeleteUser dropped %d conversations, want 1", res.Conversations)
	}
	if q := queue(t, s, r.b.d.ID); len(q) != 0 {
		t.Fatalf("bob's queue holds %d envelopes of a deleted conversation", len(q))
	}
	// Bob's queue is empty: a conversation whose queue bound is one
	// envelope must still reach him.
	c := newAccount("dropq-c")
	mustCreate(t, s, c)
	conv := store.Conversation{ID: "c-dropq-2", GroupID: []byte("group-dropq-2"), Kind: store.KindGroup, CreatedAt: t0}
	wantNoErr(t, "CreateConversation", s.CreateConversation(ctx, conv, c.u.ID, c.d.ID))
	add := store.Post{ID: "m-dropq-2-add", Kind: store.EnvelopeCommit, ConversationID: conv.ID, GroupID: conv.GroupID,
		SenderUserID: c.u.ID, SenderDeviceID: c.d.ID, Payload: []byte("commit"), At: t0, MaxQueue: 1,
		Added: []string{r.b.d.ID}, Welcomes: []store.Welcome{{ID: "w-dropq-2", Payload: []byte("welcome"), DeviceIDs: []string{r.b.d.ID}}}}
	res2 := postOne(t, s, add)
	if res2.Err != nil {
		t.Fatalf("a post to bob after the withdrawal emptied his queue: %v (queue count not lowered by %d)", res2.Err, held)
	}
}

func testDeleteUserTwice(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newAccount("twice")
	mustCreate(t, s, a)
	w := store.Withdrawal{UserID: a.u.ID, UsernameIndex: a.u.UsernameIndex, At: t0}
	_, err := s.DeleteUser(ctx, w)
	wantNoErr(t, "DeleteUser", err)
	_, err = s.DeleteUser(ctx, w)
	wantErr(t, "second DeleteUser", err, store.ErrNotFound)
	for _, n := range []string{"b", "a", "c"} {
		mustCreate(t, s, newAccount("ids-"+n))
	}
	ids, err := s.UserIDs(ctx, "u-ids-a", 10)
	wantNoErr(t, "UserIDs", err)
	if !slices.Equal(ids, []string{"u-ids-b", "u-ids-c"}) {
		t.Fatalf("UserIDs after u-ids-a = %v", ids)
	}
	if n, _ := s.Counter(ctx, "withdrawals"); n != 1 {
		t.Fatalf("withdrawals counter = %d after a refused second delete, want 1", n)
	}
}

// purgeExactly checks that kind purges nothing at cutoff <= at and want
// rows once the cutoff passes at, and nothing on a second run.
func purgeExactly(t *testing.T, s store.Store, kind store.PurgeKind, at time.Time, want int64) {
	t.Helper()
	ctx := t.Context()
	n, err := s.Purge(ctx, kind, at, 100)
	wantNoErr(t, "Purge at the boundary", err)
	if n != 0 {
		t.Fatalf("Purge %s at cutoff = creation time deleted %d, want 0", kind, n)
	}
	n, err = s.Purge(ctx, kind, at.Add(time.Nanosecond), 100)
	wantNoErr(t, "Purge", err)
	if n != want {
		t.Fatalf("Purge %s deleted %d, want %d", kind, n, want)
	}
	if n, _ = s.Purge(ctx, kind, at.Add(time.Nanosecond), 100); n != 0 {
		t.Fatalf("second Purge %s deleted %d, want 0", kind, n)
	}
}

func testPurgeQueued(t *testing.T, s store.Store) {
	r := newRoom(t, s, "purgeq")
	p := r.send("late", 1)
	p.At = t0.Add(time.Minute)
	mustPost(t, s, p)
	purgeExactly(t, s, store.PurgeQueued, t0, 2) // the add commit and its welcome
	purgeExactly(t, s, store.PurgeQueued, p.At, 1)
	for _, d := range r.member {
		n, err := s.QueueLength(t.Context(), d)
		wantNoErr(t, "QueueLength", err)
		if n != 0 || len(queue(t, s, d)) != 0 {
			t.Fatalf("device %s: queue length %d after purge", d, n)
		}
	}
}

func testPurgeBlobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newRoom(t, s, "purgeb")
	wantNoErr(t, "AddBlob", s.AddBlob(ctx, store.Blob{ID: "b-old", ConversationID: r.conv.ID,
		UserID: r.a.u.ID, Size: 7, CreatedAt: t0}, 100))
	ids, err := s.ExpiredBlobs(ctx, t0.Add(time.Nanosecond), 10)
	wantNoErr(t, "ExpiredBlobs", err)
	if !slices.Equal(ids, []string{"b-old"}) {
		t.Fatalf("ExpiredBlobs = %v", ids)
	}
	purgeExactly(t, s, store.PurgeBlobs, t0, 1)
	if used, _ := s.BlobUsage(ctx, r.a.u.ID); used != 0 {
		t.Fatalf("BlobUsage = %d after purge, want 0", used)
	}
}

func testPurgeSessions(t *testing.T, s store.Store) {
	a := newAccount("idle")
	mustCreate(t, s, a)
	wantNoErr(t, "TouchDevice", s.TouchDevice(t.Context(), a.d.ID, t0.Add(time.Hour)))
	purgeExactly(t, s, store.PurgeSessions, t0.Add(time.Hour), 1)
	_, err := s.Device(t.Context(), a.u.ID, a.d.ID)
	wantErr(t, "Device", err, store.ErrNotFound)
}

func testPurgeQuarantine(t *testing.T, s store.Store) {
	a := newAccount("quarantine")
	mustCreate(t, s, a)
	_, err := s.DeleteUser(t.Context(), store.Withdrawal{UserID: a.u.ID, UsernameIndex: a.u.UsernameIndex, At: t0})
	wantNoErr(t, "DeleteUser", err)
	purgeExactly(t, s, store.PurgeQuarantine, t0, 1)
	_, err = s.WithdrawnAt(t.Context(), a.u.UsernameIndex)
	wantErr(t, "WithdrawnAt", err, store.ErrNotFound)
}
