package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// batchPost is one post of a batch test and the outcome it must get.
type batchPost struct {
	post store.Post
	err  error    // the post's own error; nil: stored
	dup  bool     // a duplicate
	to   []string // its recipients, when stored and not nil
}

// postAll posts every p in one batch, checks each outcome and returns
// the results.
func postAll(t *testing.T, s store.Store, posts []batchPost) []store.PostResult {
	t.Helper()
	ps := make([]store.Post, len(posts))
	for i, p := range posts {
		ps[i] = p.post
	}
	res, err := s.Post(t.Context(), ps)
	wantNoErr(t, "Post", err)
	for i, want := range posts {
		got := res[i]
		switch {
		case want.err != nil && !errors.Is(got.Err, want.err),
			want.err == nil && got.Err != nil,
			got.Duplicate != want.dup,
			want.err == nil && !want.dup && want.to != nil && !reflect.DeepEqual(got.Recipients, want.to):
			t.Errorf("post %d (%s) = %+v, want err %v, duplicate %v, recipients %v",
				i, want.post.ID, got, want.err, want.dup, want.to)
		}
	}
	return res
}

// payloads lists a device's queue as "cursor:payload".
func payloads(t *testing.T, s store.Store, deviceID string) []string {
	t.Helper()
	var out []string
	for _, e := range queue(t, s, deviceID) {
		out = append(out, fmt.Sprintf("%d:%s", e.Cursor, e.Payload))
	}
	return out
}

// testBatchEpoch: in one batch, a commit that moves the epoch and removes
// a member applies to the posts after it (not to those before), the
// cursors of every queue stay consecutive across it, and a retry of a
// stored message is a duplicate even when the post itself would now be
// refused.
func testBatchEpoch(t *testing.T, s store.Store) {
	r := newRoom(t, s, "bepoch")
	fromBob := func(id string, epoch uint64) store.Post {
		p := r.send(id, epoch)
		p.SenderDeviceID, p.SenderUserID = r.b.d.ID, r.b.u.ID
		return p
	}
	commit := r.commit("remove-bob", 1)
	commit.Removed = []string{r.b.d.ID}
	retry := r.send("x", 1)
	retry.ID = "m-bepoch-retry"
	postAll(t, s, []batchPost{
		{post: r.send("x", 1), to: []string{r.a2.ID, r.b.d.ID}},
		{post: fromBob("bob", 1), to: []string{r.a.d.ID, r.a2.ID}},
		{post: commit, to: r.member},
		{post: r.send("stale", 1), err: store.ErrStaleEpoch},
		{post: fromBob("bob-late", 2), err: store.ErrNotMember},
		{post: r.send("y", 2), to: []string{r.a2.ID}},
		{post: retry, dup: true},
	})
	want := map[string][]string{
		r.a.d.ID: {"1:commit-add", "2:ciphertext-bob", "3:commit-remove-bob"},
		r.a2.ID:  {"1:welcome", "2:ciphertext-x", "3:ciphertext-bob", "4:commit-remove-bob", "5:ciphertext-y"},
		r.b.d.ID: {"1:welcome", "2:ciphertext-x", "3:commit-remove-bob"},
	}
	for d, w := range want {
		if got := payloads(t, s, d); !reflect.DeepEqual(got, w) {
			t.Errorf("%s queue = %v, want %v", d, got, w)
		}
	}
}

// testBatchQueueBound: in one batch, posts fill the queues up to the
// bound and the rest are refused without taking a cursor; a retry of a
// stored message is a duplicate even with the queues full; acks in the
// same Write free the queues, and the next batch fills them again with
// the following cursors.
func testBatchQueueBound(t *testing.T, s store.Store) {
	r := newRoom(t, s, "bbound")
	others := []string{r.a2.ID, r.b.d.ID}
	send := func(id string) store.Post {
		p := r.send(id, 1)
		p.MaxQueue = 3
		return p
	}
	again := send("1")
	again.ID = "m-bbound-again"
	posts := []store.Post{send("1"), send("2"), send("3"), send("4"), again}
	acks := []store.AckRequest{{DeviceID: r.b.d.ID, Cursor: 3}, {DeviceID: r.a2.ID, Cursor: 3}}
	res, ackRes, err := s.Write(t.Context(), posts, acks)
	wantNoErr(t, "Write", err)
	for i, want := range []error{nil, nil, store.ErrQueueFull, store.ErrQueueFull, nil} {
		if !errors.Is(res[i].Err, want) || (want == nil) != (res[i].Err == nil) {
			t.Errorf("post %d: err = %v, want %v", i, res[i].Err, want)
		}
	}
	if !res[4].Duplicate {
		t.Errorf("retry: %+v, want duplicate", res[4])
	}
	for i, a := range ackRes {
		if a.Err != nil || a.Removed != 3 {
			t.Errorf("ack %d = %+v, want 3 removed", i, a)
		}
	}
	postAll(t, s, []batchPost{
		{post: send("5"), to: others},
		{post: send("6"), to: others},
		{post: send("7"), to: others},
		{post: send("8"), err: store.ErrQueueFull},
	})
	for _, d := range others {
		want := []string{"4:ciphertext-5", "5:ciphertext-6", "6:ciphertext-7"}
		if got := payloads(t, s, d); !reflect.DeepEqual(got, want) {
			t.Errorf("%s queue = %v, want %v", d, got, want)
		}
	}
}

// testBatchLargeGroup: in one batch, posts to a small conversation and to
// a large one (more members than a store may track per batch) that share
// a recipient give that recipient consecutive cursors.
func testBatchLargeGroup(t *testing.T, s store.Store) {
	r := newRoom(t, s, "blarge")
	big := r
	big.conv = store.Conversation{ID: "c-blarge-big", GroupID: []byte("group-blarge-big"), Kind: store.KindGroup, CreatedAt: t0}
	wantNoErr(t, "CreateConversation", s.CreateConversation(t.Context(), big.conv, r.a.u.ID, r.a.d.ID))
	add := big.commit("add", 0)
	add.Added = []string{r.b.d.ID}
	first := big // its sender's device id sorts before every other member's
	for i := range 40 {
		a := newAccount(fmt.Sprint("blarge-", i))
		mustCreate(t, s, a)
		add.Added = append(add.Added, a.d.ID)
		if i == 0 {
			first.a = a
		}
	}
	mustPost(t, s, add)
	res := postAll(t, s, []batchPost{
		{post: r.send("x", 1), to: []string{r.a2.ID, r.b.d.ID}},
		{post: big.send("big", 1)},
		{post: r.send("y", 1), to: []string{r.a2.ID, r.b.d.ID}},
		{post: first.send("first", 1)},
	})
	for _, i := range []int{1, 3} {
		if n := len(res[i].Recipients); n != 41 {
			t.Errorf("large group post %d reached %d devices, want 41", i, n)
		}
	}
	want := []string{"1:welcome", "2:ciphertext-x", "3:ciphertext-big", "4:ciphertext-y", "5:ciphertext-first"}
	if got := payloads(t, s, r.b.d.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("bob's queue = %v, want %v", got, want)
	}
}

// testBatchAckDrops: acks in one Write delete the messages that no queue
// refers to any more, and only those.
func testBatchAckDrops(t *testing.T, s store.Store) {
	r := newRoom(t, s, "bdrop")
	postAll(t, s, sends(r, 20))
	// bob and alice's second device hold the welcome and the 20 messages
	// at cursors 1..21; alice's first device holds the first commit.
	acks := []store.AckRequest{{DeviceID: r.b.d.ID, Cursor: 21}, {DeviceID: r.a2.ID, Cursor: 11}}
	_, ackRes, err := s.Write(t.Context(), nil, acks)
	wantNoErr(t, "Write", err)
	if ackRes[0].Removed != 21 || ackRes[1].Removed != 11 {
		t.Fatalf("acks = %+v, want 21 and 11 removed", ackRes)
	}
	// Left: the commit and the 10 messages alice's second device holds.
	n, err := s.Purge(t.Context(), store.PurgeQueued, t0.Add(time.Second), 1000)
	wantNoErr(t, "Purge", err)
	if n != 11 {
		t.Errorf("%d messages left after the acks, want 11", n)
	}
}

// testBatchManyRooms: one batch posting to many conversations keeps every
// recipient's cursors, and the next batch continues them.
func testBatchManyRooms(t *testing.T, s store.Store) {
	rooms := make([]room, 17)
	var acks []store.AckRequest
	for i := range rooms {
		rooms[i] = newRoom(t, s, fmt.Sprint("bmany-", i))
		r := rooms[i]
		acks = append(acks, store.AckRequest{DeviceID: r.a2.ID, Cursor: 1}, store.AckRequest{DeviceID: r.b.d.ID, Cursor: 1})
	}
	_, _, err := s.Write(t.Context(), nil, acks) // the welcomes: each queue counts one less than its last cursor
	wantNoErr(t, "Write", err)
	for _, id := range []string{"x", "y"} {
		var posts []batchPost
		for _, r := range rooms {
			posts = append(posts, batchPost{post: r.send(id, 1), to: []string{r.a2.ID, r.b.d.ID}})
		}
		postAll(t, s, posts)
	}
	for _, r := range rooms {
		for _, d := range []string{r.a2.ID, r.b.d.ID} {
			want := []string{"2:ciphertext-x", "3:ciphertext-y"}
			if got := payloads(t, s, d); !reflect.DeepEqual(got, want) {
				t.Errorf("%s queue = %v, want %v", d, got, want)
			}
		}
	}
	// The queue counts were written back too: a bound of 3 leaves room
	// for one more.
	for _, want := range []error{nil, store.ErrQueueFull} {
		p := rooms[0].send(fmt.Sprint("z-", want == nil), 1)
		p.MaxQueue = 3
		if err := postOne(t, s, p).Err; !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("Post with 2 of 3 queued: %v, want %v", err, want)
		}
	}
}

// testBatchDuplicates: in one batch, a second post of a client message id
// is a duplicate and takes no room under the queue bound; a post refused
// leaves its client message id free for the next; posts without one, or
// with the same id twice, are told apart by their ids.
func testBatchDuplicates(t *testing.T, s store.Store) {
	r := newRoom(t, s, "bdup")
	others := []string{r.a2.ID, r.b.d.ID}
	send := func(id string, epoch uint64) store.Post {
		p := r.send(id, epoch)
		p.MaxQueue = 3
		return p
	}
	again := send("1", 1)
	again.ID = "m-bdup-again"
	stale := send("2", 7)
	stale.ID = "m-bdup-stale"
	postAll(t, s, []batchPost{
		{post: send("1", 1), to: others},
		{post: again, dup: true},
		{post: stale, err: store.ErrStaleEpoch},
		{post: send("2", 1), to: others},
		{post: send("3", 1), err: store.ErrQueueFull},
	})
	noClient := func(id string) store.Post {
		p := r.send(id, 1)
		p.ClientMessageID = nil
		return p
	}
	acks := []store.AckRequest{{DeviceID: r.b.d.ID, Cursor: 3}, {DeviceID: r.a2.ID, Cursor: 3}}
	_, _, err := s.Write(t.Context(), nil, acks)
	wantNoErr(t, "Write", err)
	postAll(t, s, []batchPost{
		{post: noClient("4"), to: others},
		{post: noClient("5"), to: others},
		{post: noClient("5"), dup: true},
	})
	for _, d := range others {
		want := []string{"4:ciphertext-4", "5:ciphertext-5"}
		if got := payloads(t, s, d); !reflect.DeepEqual(got, want) {
			t.Errorf("%s queue = %v, want %v", d, got, want)
		}
	}
}

// testBatchAcks: acks of one device in one Write count their envelopes as
// if they ran in turn (a lower cursor after a higher one removes nothing
// and is no error), an ack past the last cursor is refused without
// stopping the others, and the queue counts fall by what was removed.
func testBatchAcks(t *testing.T, s store.Store) {
	r := newRoom(t, s, "backs")
	postAll(t, s, sends(r, 5))
	// bob and alice's second device hold cursors 1..6.
	acks := []store.AckRequest{
		{DeviceID: r.b.d.ID, Cursor: 2}, {DeviceID: r.b.d.ID, Cursor: 1}, {DeviceID: r.b.d.ID, Cursor: 7},
		{DeviceID: r.b.d.ID, Cursor: 4}, {DeviceID: r.a2.ID, Cursor: 6}, {DeviceID: r.b.d.ID, Cursor: 4},
	}
	_, got, err := s.Write(t.Context(), nil, acks)
	wantNoErr(t, "Write", err)
	want := []store.AckResult{{Removed: 2}, {}, {Err: store.ErrUnknownCursor}, {Removed: 2}, {Removed: 6}, {}}
	for i := range want {
		if got[i].Removed != want[i].Removed || !errors.Is(got[i].Err, want[i].Err) || (got[i].Err == nil) != (want[i].Err == nil) {
			t.Errorf("ack %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for d, want := range map[string]int64{r.b.d.ID: 2, r.a2.ID: 0} {
		if n, err := s.QueueLength(t.Context(), d); err != nil || n != want {
			t.Errorf("QueueLength(%s) = %d, %v; want %d", d, n, err, want)
		}
	}
	// The counts fell by exactly what was removed: a bound of 3 leaves
	// bob room for one more.
	for _, want := range []error{nil, store.ErrQueueFull} {
		p := r.send(fmt.Sprint("bound-", want == nil), 1)
		p.MaxQueue = 3
		if err := postOne(t, s, p).Err; !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("Post with 2 of 3 queued: %v, want %v", err, want)
		}
	}
}

// sends is n application posts from r's first device, payloads "0".."n-1".
func sends(r room, n int) []batchPost {
	posts := make([]batchPost, n)
	for i := range posts {
		posts[i] = batchPost{post: r.send(fmt.Sprint(i), 1)}
	}
	return posts
}
