package sqlite

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/internal/sqlstore"
)

// openAt opens path migrated only up to version of the main set, as an
// older binary left it.
func openAt(t *testing.T, path string, version int) *Store {
	t.Helper()
	sets, err := migrationSets()
	if err != nil {
		t.Fatal(err)
	}
	sets[0].Migrations = sets[0].Migrations[:version]
	db, err := openMigrated(t.Context(), path, Options{}, sets)
	if err != nil {
		t.Fatalf("open at version %d: %v", version, err)
	}
	return &Store{Store: sqlstore.New("sqlite", db, sets...), pools: db}
}

// upgradeRoom is a conversation of devices a, a2 and b with messages
// queued for them, written by a binary at schema version 4.
type upgradeRoom struct {
	conv    store.Conversation
	devices [3]string // a, a2, b
}

func newUpgradeRoom(t *testing.T, s *Store) upgradeRoom {
	t.Helper()
	ctx := t.Context()
	t0 := time.Unix(1_790_000_000, 0).UTC()
	r := upgradeRoom{conv: store.Conversation{ID: "c-up", GroupID: []byte("group-up"), Kind: store.KindGroup, CreatedAt: t0}}
	for i, name := range []string{"a", "a2", "b"} {
		d := store.Device{ID: "d-" + name, UserID: "u-" + name[:1], NameEnc: []byte("n"), SignatureKey: make([]byte, 32),
			CreatedAt: t0, LastSeenAt: t0}
		ses := store.Session{TokenHash: []byte("token-" + name), UserID: d.UserID, DeviceID: d.ID, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour)}
		var err error
		if name == "a2" {
			err = s.CreateDevice(ctx, d, ses)
		} else {
			err = s.CreateUser(ctx, store.User{ID: d.UserID, UsernameIndex: []byte("index-" + name),
				UsernameEnc: []byte("u"), DisplayNameEnc: []byte("n"), PasswordHash: "h", CreatedAt: t0}, d, ses)
		}
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		r.devices[i] = d.ID
	}
	if err := s.CreateConversation(ctx, r.conv, "u-a", r.devices[0]); err != nil {
		t.Fatal(err)
	}
	posts := []store.Post{{ID: "m-add", Kind: store.EnvelopeCommit, ConversationID: r.conv.ID, GroupID: r.conv.GroupID,
		SenderUserID: "u-a", SenderDeviceID: r.devices[0], Payload: []byte("commit"), At: t0,
		Added: r.devices[1:], Welcomes: []store.Welcome{{ID: "w-add", Payload: []byte("welcome"), DeviceIDs: r.devices[1:]}}}}
	for i := range 5 {
		posts = append(posts, store.Post{ID: fmt.Sprint("m-", i), Kind: store.EnvelopeApplication,
			ConversationID: r.conv.ID, GroupID: r.conv.GroupID, SenderUserID: "u-a", SenderDeviceID: r.devices[0],
			ClientMessageID: []byte(fmt.Sprint("cmid-", i)), Epoch: 1, Payload: []byte(fmt.Sprint("text-", i)),
			At: t0.Add(time.Duration(i) * time.Second), MaxQueue: 100})
	}
	res, err := s.Post(ctx, posts)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range res {
		if p.Err != nil || p.Duplicate {
			t.Fatalf("post %d: %v (duplicate %v)", i, p.Err, p.Duplicate)
		}
	}
	return r
}

// queues reads every device's envelopes and queue length.
func (r upgradeRoom) queues(t *testing.T, s *Store) map[string][]store.Envelope {
	t.Helper()
	out := map[string][]store.Envelope{}
	for _, d := range r.devices {
		env, err := s.Envelopes(t.Context(), d, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.QueueLength(t.Context(), d)
		if err != nil || n != int64(len(env)) {
			t.Fatalf("%s: queue length %d (%v), %d envelopes", d, n, err, len(env))
		}
		out[d] = env
	}
	return out
}

// TestUpgradeLeanQueue: a file at version 4 with queued messages
// migrates to 5 (queue rebuilt WITHOUT ROWID, no reference to messages,
// no messages_by_created) keeping every envelope, and acks then delete a
// message once no device has it queued.
func TestUpgradeLeanQueue(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sealine.db")
	old := openAt(t, path, 4)
	r := newUpgradeRoom(t, old)
	before := r.queues(t, old)
	old.Close()

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if v := version(t, s, "schema_version"); v != 5 {
		t.Fatalf("schema_version = %d, want 5", v)
	}
	if after := r.queues(t, s); !reflect.DeepEqual(after, before) {
		t.Fatalf("envelopes after the upgrade:\n%v\nwant\n%v", after, before)
	}
	checkLeanQueue(t, s)

	a, a2, b := r.devices[0], r.devices[1], r.devices[2]
	tests := []struct {
		name     string
		acks     []store.AckRequest
		removed  []int64
		messages int64 // left in the table
	}{
		// a holds the commit; a2 and b hold the Welcome and the 5 messages.
		{"b acks, a2 still holds them", []store.AckRequest{{DeviceID: b, Cursor: 6}}, []int64{6}, 7},
		{"a2 acks twice in one batch", []store.AckRequest{{DeviceID: a2, Cursor: 3}, {DeviceID: a2, Cursor: 6}}, []int64{3, 3}, 1},
		{"a acks the commit", []store.AckRequest{{DeviceID: a, Cursor: 1}}, []int64{1}, 0},
	}
	for _, tc := range tests {
		_, res, err := s.Write(ctx, nil, tc.acks)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i, got := range res {
			if got.Err != nil || got.Removed != tc.removed[i] {
				t.Fatalf("%s: ack %d = %+v, want %d removed", tc.name, i, got, tc.removed[i])
			}
		}
		if n := count(t, s, "messages"); n != tc.messages {
			t.Fatalf("%s: %d messages left, want %d", tc.name, n, tc.messages)
		}
	}
	if n := count(t, s, "queue"); n != 0 {
		t.Fatalf("%d queue rows left", n)
	}
}

// checkLeanQueue checks the shape migration 0005 leaves and that every
// remaining foreign key holds.
func checkLeanQueue(t *testing.T, s *Store) {
	t.Helper()
	var sql string
	if err := s.pools.reader.QueryRowContext(t.Context(),
		`SELECT sql FROM sqlite_schema WHERE name = 'queue'`).Scan(&sql); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sql, "WITHOUT ROWID") || strings.Contains(sql, "REFERENCES messages") {
		t.Errorf("queue is %s", sql)
	}
	for _, q := range []string{
		`SELECT count(*) FROM sqlite_schema WHERE name IN ('messages_by_created', 'queue_old')`,
		`SELECT count(*) FROM pragma_foreign_key_check`,
	} {
		if n := queryCount(t, s, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
	if n := queryCount(t, s, `SELECT count(*) FROM sqlite_schema WHERE name = 'queue_by_message'`); n != 1 {
		t.Errorf("queue_by_message missing")
	}
}

func count(t *testing.T, s *Store, table string) int64 {
	t.Helper()
	return queryCount(t, s, "SELECT count(*) FROM "+table)
}

func queryCount(t *testing.T, s *Store, q string) int64 {
	t.Helper()
	var n int64
	if err := s.pools.reader.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
