package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
)

// concurrent lists the race cases; each runs its goroutines spread over
// nodes, stores that share one database.
var concurrent = []struct {
	name string
	fn   func(t *testing.T, nodes []store.Store)
}{
	{"ConcurrentLoginFailures", testConcurrentLoginFailures},
	{"ConcurrentCreateUser", testConcurrentCreateUser},
	{"ConcurrentCreateDevice", testConcurrentCreateDevice},
	{"ConcurrentRevokeDevice", testConcurrentRevokeDevice},
	{"ConcurrentTouchDevice", testConcurrentTouchDevice},
	{"ConcurrentPutKey", testConcurrentPutKey},
}

// on returns the node goroutine i talks to.
func on(nodes []store.Store, i int) store.Store { return nodes[i%len(nodes)] }

// testConcurrentLoginFailures: 20 parallel failures are all counted, each
// sees a distinct count, and exactly those at or past max see the lock.
func testConcurrentLoginFailures(t *testing.T, nodes []store.Store) {
	s := nodes[0]
	const n, max = 20, 10
	a := newAccount("hammered")
	mustCreate(t, s, a)
	lock := t0.Add(time.Hour)
	counts := make([]int, n)
	errs := parallel(n, func(i int) error {
		c, until, err := on(nodes, i).RecordLoginFailure(t.Context(), a.u.ID, max, lock)
		counts[i] = c
		if err == nil && (c >= max) != until.Equal(lock) {
			err = fmt.Errorf("count %d: locked until %v", c, until)
		}
		return err
	})
	for _, err := range errs {
		wantNoErr(t, "RecordLoginFailure", err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("counts seen = %v, want 1..%d each once", counts, n)
		}
	}
	u, err := s.UserByID(t.Context(), a.u.ID)
	wantNoErr(t, "UserByID", err)
	if u.FailedLogins != n || !u.LockedUntil.Equal(lock) {
		t.Errorf("user has %d failures, locked until %v; want %d, %v", u.FailedLogins, u.LockedUntil, n, lock)
	}
}

// testConcurrentCreateUser: ten sign-ups race for one username index;
// exactly one wins and the losers leave no rows.
func testConcurrentCreateUser(t *testing.T, nodes []store.Store) {
	s := nodes[0]
	const n = 10
	accts := make([]account, n)
	for i := range accts {
		accts[i] = newAccount(fmt.Sprintf("racer-%d", i))
		accts[i].u.UsernameIndex = []byte("index-contested")
	}
	errs := parallel(n, func(i int) error {
		a := accts[i]
		return on(nodes, i).CreateUser(t.Context(), a.u, a.d, a.s)
	})
	ok, conflicts := count(errs, store.ErrConflict)
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d won, %d conflicted, want 1 and %d: %v", ok, conflicts, n-1, errs)
	}
	winner := accts[slices.Index(errs, nil)]
	checkAccount(t, s, winner)
	for i, a := range accts {
		if errs[i] != nil {
			checkNothingOf(t, s, winner, a)
		}
	}
}

// testConcurrentCreateDevice: parallel device links of one user all land.
func testConcurrentCreateDevice(t *testing.T, nodes []store.Store) {
	s := nodes[0]
	const n = 10
	a := newAccount("linker")
	mustCreate(t, s, a)
	errs := parallel(n, func(i int) error {
		d, ses := newDevice(a.u.ID, fmt.Sprintf("linker-%02d", i+2), t0.Add(time.Duration(i+1)*time.Second))
		return on(nodes, i).CreateDevice(t.Context(), d, ses)
	})
	for _, err := range errs {
		wantNoErr(t, "CreateDevice", err)
	}
	devs, err := s.ListDevices(t.Context(), a.u.ID)
	wantNoErr(t, "ListDevices", err)
	if len(devs) != n+1 {
		t.Errorf("user has %d devices, want %d", len(devs), n+1)
	}
}

// testConcurrentRevokeDevice: ten revocations of one device; one succeeds,
// the others find nothing.
func testConcurrentRevokeDevice(t *testing.T, nodes []store.Store) {
	s := nodes[0]
	const n = 10
	a := newAccount("revoked")
	mustCreate(t, s, a)
	errs := parallel(n, func(i int) error { return on(nodes, i).RevokeDevice(t.Context(), a.u.ID, a.d.ID) })
	ok, notFound := count(errs, store.ErrNotFound)
	if ok != 1 || notFound != n-1 {
		t.Fatalf("%d succeeded, %d not found, want 1 and %d: %v", ok, notFound, n-1, errs)
	}
	_, err := s.SessionByTokenHash(t.Context(), a.s.TokenHash, t0)
	wantErr(t, "SessionByTokenHash", err, store.ErrNotFound)
}

// testConcurrentTouchDevice: whatever order parallel touches land in,
// LastSeenAt ends at the latest.
func testConcurrentTouchDevice(t *testing.T, nodes []store.Store) {
	s := nodes[0]
	const n = 20
	a := newAccount("toucher")
	mustCreate(t, s, a)
	at := func(i int) time.Time { return t0.Add(time.Duration((i*7)%n+1) * time.Minute) }
	errs := parallel(n, func(i int) error { return on(nodes, i).TouchDevice(t.Context(), a.d.ID, at(i)) })
	for _, err := range errs {
		wantNoErr(t, "TouchDevice", err)
	}
	d, err := s.Device(t.Context(), a.u.ID, a.d.ID)
	wantNoErr(t, "Device", err)
	if want := t0.Add(n * time.Minute); !d.LastSeenAt.Equal(want) {
		t.Errorf("LastSeenAt = %v, want %v", d.LastSeenAt, want)
	}
}

// testConcurrentPutKey: ten parallel puts for one user; exactly one key is
// stored and it is the winner's.
func testConcurrentPutKey(t *testing.T, nodes []store.Store) {
	s := nodes[0]
	const n = 10
	keys := make([]store.WrappedKey, n)
	for i := range keys {
		keys[i] = newKey("u-contested", fmt.Sprintf("kek-%d", i))
	}
	errs := parallel(n, func(i int) error { return on(nodes, i).Keys().PutKey(t.Context(), keys[i]) })
	ok, conflicts := count(errs, store.ErrConflict)
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d won, %d conflicted, want 1 and %d: %v", ok, conflicts, n-1, errs)
	}
	got, err := s.Keys().Key(t.Context(), "u-contested")
	wantNoErr(t, "Key", err)
	if want := keys[slices.Index(errs, nil)]; !reflect.DeepEqual(got, want) {
		t.Errorf("Key = %+v, want the winner's %+v", got, want)
	}
}
