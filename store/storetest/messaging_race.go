package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/sealine/sealine/store"
)

// messagingRaces are the race cases of store.Messaging.
var messagingRaces = []struct {
	name string
	fn   func(t *testing.T, nodes []store.Store)
}{
	{"ConcurrentClaims", testConcurrentClaims},
	{"ConcurrentCommits", testConcurrentCommits},
	{"ConcurrentSends", testConcurrentSends},
	{"ConcurrentBatches", testConcurrentBatches},
	{"ConcurrentPostAcks", testConcurrentPostAcks},
	{"ConcurrentKeyPackageUploads", testConcurrentKeyPackageUploads},
	{"ConcurrentBlobQuota", testConcurrentBlobQuota},
}

// testConcurrentClaims: 30 parallel claims of 20 one-time packages; each
// one-time package is returned exactly once, the rest get the last resort.
func testConcurrentClaims(t *testing.T, nodes []store.Store) {
	const packages, claims = 20, 30
	a := newAccount("claimed")
	mustCreate(t, nodes[0], a)
	var kps []store.KeyPackage
	for i := range packages {
		kps = append(kps, kp(a, fmt.Sprint(i), i))
	}
	last := kp(a, "last", 99)
	_, err := nodes[0].AddKeyPackages(t.Context(), kps, &last, 100)
	wantNoErr(t, "AddKeyPackages", err)
	got := make([]store.KeyPackage, claims)
	errs := parallel(claims, func(i int) error {
		var err error
		got[i], err = on(nodes, i).ClaimKeyPackage(t.Context(), a.d.ID)
		return err
	})
	seen := map[string]int{}
	lastResorts := 0
	for i, err := range errs {
		wantNoErr(t, "ClaimKeyPackage", err)
		if got[i].LastResort {
			lastResorts++
			continue
		}
		seen[string(got[i].Data)]++
	}
	if len(seen) != packages || lastResorts != claims-packages {
		t.Fatalf("%d distinct one-time packages, %d last resorts; want %d and %d", len(seen), lastResorts, packages, claims-packages)
	}
	for data, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", data, n)
		}
	}
}

// testConcurrentCommits: ten members commit for the same epoch at once;
// exactly one wins, the others get ErrStaleEpoch, and only the winner's
// commit is queued.
func testConcurrentCommits(t *testing.T, nodes []store.Store) {
	const n = 10
	s := nodes[0]
	r := newRoom(t, s, "commits")
	errs := parallel(n, func(i int) error {
		p := r.commit(fmt.Sprint(i), 1)
		if i%2 == 1 {
			p.SenderDeviceID, p.SenderUserID = r.b.d.ID, r.b.u.ID
		}
		res, err := on(nodes, i).Post(t.Context(), []store.Post{p})
		if err != nil {
			return err
		}
		return res[0].Err
	})
	ok, stale := count(errs, store.ErrStaleEpoch)
	if ok != 1 || stale != n-1 {
		t.Fatalf("%d won, %d stale; want 1 and %d: %v", ok, stale, n-1, errs)
	}
	c, err := s.Conversation(t.Context(), r.conv.ID)
	wantNoErr(t, "Conversation", err)
	if c.Epoch != 2 {
		t.Errorf("epoch = %d, want 2", c.Epoch)
	}
	want := fmt.Sprintf("commit-%d", slices.Index(errs, nil))
	for _, d := range r.member {
		env := queue(t, s, d)
		commits := 0
		for _, e := range env {
			if e.Kind == store.EnvelopeCommit && e.Epoch == 1 {
				commits++
				if string(e.Payload) != want {
					t.Errorf("%s got %s, want the winner's %s", d, e.Payload, want)
				}
			}
		}
		if commits != 1 {
			t.Errorf("%s got %d commits for epoch 1, want 1", d, commits)
		}
	}
}

// testConcurrentSends: 40 parallel sends from two devices; every other
// member's queue gets cursors strictly increasing without gaps.
func testConcurrentSends(t *testing.T, nodes []store.Store) {
	const n = 40
	r := newRoom(t, nodes[0], "sends")
	errs := parallel(n, func(i int) error {
		p := r.send(fmt.Sprint(i), 1)
		if i%2 == 1 {
			p.SenderDeviceID, p.SenderUserID = r.b.d.ID, r.b.u.ID
		}
		res, err := on(nodes, i).Post(t.Context(), []store.Post{p})
		if err != nil {
			return err
		}
		return res[0].Err
	})
	for _, err := range errs {
		wantNoErr(t, "Post", err)
	}
	for d, want := range map[string]int{r.a2.ID: n + 1, r.b.d.ID: n/2 + 1, r.a.d.ID: n/2 + 1} {
		env := queue(t, nodes[0], d)
		if len(env) != want {
			t.Fatalf("%s has %d envelopes, want %d", d, len(env), want)
		}
		for i, e := range env {
			if e.Cursor != uint64(i+1) {
				t.Fatalf("%s cursors: envelope %d has cursor %d, want %d", d, i, e.Cursor, i+1)
			}
		}
	}
}

// testConcurrentKeyPackageUploads: ten uploads of 3 race for a bound of
// 10; exactly three land, and the count is exact.
func testConcurrentKeyPackageUploads(t *testing.T, nodes []store.Store) {
	const n, max = 10, 10
	a := newAccount("uploader")
	mustCreate(t, nodes[0], a)
	errs := parallel(n, func(i int) error {
		batch := []store.KeyPackage{kp(a, fmt.Sprint(i, "a"), i), kp(a, fmt.Sprint(i, "b"), i), kp(a, fmt.Sprint(i, "c"), i)}
		_, err := on(nodes, i).AddKeyPackages(t.Context(), batch, nil, max)
		return err
	})
	ok, quota := count(errs, store.ErrQuota)
	if ok != 3 || quota != n-3 {
		t.Fatalf("%d uploads landed, %d refused; want 3 and %d: %v", ok, quota, n-3, errs)
	}
	avail, _, err := nodes[0].KeyPackageCount(t.Context(), a.d.ID)
	if err != nil || avail != 9 {
		t.Errorf("KeyPackageCount = %d, %v; want 9", avail, err)
	}
}

// testConcurrentBlobQuota: ten blobs of 300 bytes race for a 1000-byte
// quota; exactly three are recorded.
func testConcurrentBlobQuota(t *testing.T, nodes []store.Store) {
	const n = 10
	r := newRoom(t, nodes[0], "quota")
	errs := parallel(n, func(i int) error {
		b := store.Blob{ID: fmt.Sprint("b-", i), ConversationID: r.conv.ID, UserID: r.a.u.ID, Size: 300, CreatedAt: t0}
		return on(nodes, i).AddBlob(t.Context(), b, 1000)
	})
	ok, quota := count(errs, store.ErrQuota)
	if ok != 3 || quota != n-3 {
		t.Fatalf("%d blobs recorded, %d refused; want 3 and %d: %v", ok, quota, n-3, errs)
	}
	if used, err := nodes[0].BlobUsage(t.Context(), r.a.u.ID); err != nil || used != 900 {
		t.Errorf("BlobUsage = %d, %v; want 900", used, err)
	}
}

// testConcurrentBatches: batches of sends to four conversations that share
// a member race, each batch naming the conversations in another order,
// with one commit per conversation. No batch fails (a deadlock would fail
// it), every queue's cursors are consecutive, every stored send reaches
// each recipient once, and no send of the old epoch is queued after the
// commit that ended it.
func testConcurrentBatches(t *testing.T, nodes []store.Store) {
	const rooms, batches = 4, 12
	s := nodes[0]
	rs := make([]room, rooms)
	var hub string // bob of the first room, a member of every room
	for i := range rs {
		rs[i] = newRoom(t, s, fmt.Sprint("batches-", i))
		if i == 0 {
			hub = rs[0].b.d.ID
		}
		c := rs[i].commit("hub", 1)
		if i > 0 {
			c.Added = []string{hub}
			c.Welcomes = []store.Welcome{{ID: "w-hub-" + rs[i].conv.ID, Payload: []byte("welcome"), DeviceIDs: c.Added}}
		}
		mustPost(t, s, c)
	}
	want := map[string]int{}
	var mu sync.Mutex
	errs := parallel(batches+rooms, func(i int) error {
		if i >= batches {
			res, err := on(nodes, i).Post(t.Context(), []store.Post{rs[i-batches].commit("end", 2)})
			if err != nil {
				return err
			}
			return res[0].Err
		}
		var posts []store.Post
		for j := range rooms {
			r := rs[(i+j)%rooms]
			posts = append(posts, r.send(fmt.Sprint(i), 2))
		}
		res, err := on(nodes, i).Post(t.Context(), posts)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range res {
			if r.Err != nil && !errors.Is(r.Err, store.ErrStaleEpoch) {
				return r.Err
			}
			for _, d := range r.Recipients {
				want[d]++
			}
		}
		return nil
	})
	for _, err := range errs {
		wantNoErr(t, "Post", err)
	}
	for _, r := range rs {
		for _, d := range r.member {
			checkQueue(t, s, d, want[d])
		}
	}
	checkQueue(t, s, hub, want[hub])
}

// checkQueue checks that a device's queue holds sends stored in it
// apps times, with consecutive cursors, and no send of an epoch after the
// commit of that epoch in the same conversation.
func checkQueue(t *testing.T, s store.Store, deviceID string, apps int) {
	t.Helper()
	ended := map[string]uint64{} // conversation: epochs below this are over
	n := 0
	for i, e := range queue(t, s, deviceID) {
		if e.Cursor != uint64(i+1) {
			t.Fatalf("%s: envelope %d has cursor %d", deviceID, i, e.Cursor)
		}
		switch e.Kind {
		case store.EnvelopeCommit:
			ended[e.ConversationID] = e.Epoch + 1
		case store.EnvelopeApplication:
			n++
			if e.Epoch < ended[e.ConversationID] {
				t.Errorf("%s: a send of epoch %d in %s is queued after its commit", deviceID, e.Epoch, e.ConversationID)
			}
		}
	}
	if n != apps {
		t.Errorf("%s has %d sends, want %d", deviceID, n, apps)
	}
}

// testConcurrentPostAcks: two Writes race, round after round, each
// posting to one room and acking the other room's recipient, which the
// other Write posts to: each locks the other's counter for its acks. No
// Write fails (a deadlock would fail one).
func testConcurrentPostAcks(t *testing.T, nodes []store.Store) {
	const rounds = 20
	x, y := newRoom(t, nodes[0], "postacks-x"), newRoom(t, nodes[0], "postacks-y")
	for k := range rounds {
		errs := parallel(2, func(i int) error {
			post, acked := x, y
			if i == 1 {
				post, acked = y, x
			}
			acks := []store.AckRequest{{DeviceID: acked.b.d.ID, Cursor: uint64(k + 1)}}
			res, ackRes, err := on(nodes, i).Write(t.Context(), []store.Post{post.send(fmt.Sprint(k), 1)}, acks)
			switch {
			case err != nil:
				return err
			case res[0].Err != nil:
				return res[0].Err
			}
			return ackRes[0].Err
		})
		for _, err := range errs {
			wantNoErr(t, fmt.Sprint("Write, round ", k), err)
		}
	}
	for _, r := range []room{x, y} {
		if n, err := nodes[0].QueueLength(t.Context(), r.b.d.ID); err != nil || n != 1 {
			t.Errorf("QueueLength(%s) = %d, %v; want 1", r.b.d.ID, n, err)
		}
	}
}
