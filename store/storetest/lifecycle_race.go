package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// lifecycleRaces are the race cases of store.Lifecycle and the rotation
// methods of store.KeyStore.
var lifecycleRaces = []struct {
	name string
	fn   func(t *testing.T, nodes []store.Store)
}{
	{"ConcurrentPurges", testConcurrentPurges},
	{"ConcurrentRewraps", testConcurrentRewraps},
	{"ConcurrentWithdrawals", testConcurrentWithdrawals},
}

// testConcurrentPurges: purges racing on several nodes delete each old
// message once, and the queue counters end at zero.
func testConcurrentPurges(t *testing.T, nodes []store.Store) {
	const msgs, purgers = 30, 6
	r := newRoom(t, nodes[0], "purgerace")
	for i := range msgs {
		mustPost(t, nodes[0], r.send(fmt.Sprint(i), 1))
	}
	counts := make([]int64, purgers)
	errs := parallel(purgers, func(i int) error {
		var err error
		counts[i], err = on(nodes, i).Purge(t.Context(), store.PurgeQueued, t0.Add(time.Second), 4)
		for err == nil {
			var n int64
			if n, err = on(nodes, i).Purge(t.Context(), store.PurgeQueued, t0.Add(time.Second), 4); n == 0 {
				break
			}
			counts[i] += n
		}
		return err
	})
	var total int64
	for i, err := range errs {
		wantNoErr(t, "Purge", err)
		total += counts[i]
	}
	if total != msgs+2 { // the messages, the add commit and its welcome
		t.Fatalf("racing purges deleted %d messages, want %d", total, msgs+2)
	}
	for _, d := range r.member {
		if n, err := nodes[0].QueueLength(t.Context(), d); err != nil || n != 0 {
			t.Fatalf("device %s: queue length %d (%v) after the purges", d, n, err)
		}
	}
}

// testConcurrentRewraps: rotations racing on several nodes move each key
// once.
func testConcurrentRewraps(t *testing.T, nodes []store.Store) {
	const keys, rotators = 20, 5
	for i := range keys {
		wantNoErr(t, "PutKey", nodes[0].Keys().PutKey(t.Context(), newKey(fmt.Sprintf("u-rw%02d", i), "old")))
	}
	counts := make([]int64, rotators)
	errs := parallel(rotators, func(i int) error {
		ks := on(nodes, i).Keys()
		batch, err := ks.KeysNotWrappedBy(t.Context(), "new", keys)
		if err != nil {
			return err
		}
		rw := make([]store.Rewrap, len(batch))
		for j, k := range batch {
			rw[j] = store.Rewrap{Key: store.WrappedKey{UserID: k.UserID, KEKID: "new", Ciphertext: []byte("n")}, OldKEKID: k.KEKID}
		}
		counts[i], err = ks.Rewrap(t.Context(), rw)
		return err
	})
	var total int64
	for i, err := range errs {
		wantNoErr(t, "Rewrap", err)
		total += counts[i]
	}
	all, by, err := nodes[0].Keys().CountKeys(t.Context(), "new")
	wantNoErr(t, "CountKeys", err)
	if total != keys || all != keys || by != keys {
		t.Fatalf("racing rewraps replaced %d keys, %d of %d under the new KEK; want %d", total, by, all, keys)
	}
}

// testConcurrentWithdrawals: the same withdrawal racing on several nodes
// succeeds once and counts once.
func testConcurrentWithdrawals(t *testing.T, nodes []store.Store) {
	a := newAccount("racewithdraw")
	mustCreate(t, nodes[0], a)
	w := store.Withdrawal{UserID: a.u.ID, UsernameIndex: a.u.UsernameIndex, At: t0}
	errs := parallel(6, func(i int) error {
		_, err := on(nodes, i).DeleteUser(t.Context(), w)
		return err
	})
	if ok, notFound := count(errs, store.ErrNotFound); ok != 1 || notFound != 5 {
		t.Fatalf("racing withdrawals: %d succeeded, %d not found; errors %v", ok, notFound, errs)
	}
	if n, _ := nodes[0].Counter(t.Context(), "withdrawals"); n != 1 {
		t.Fatalf("withdrawals counter = %d, want 1", n)
	}
}
