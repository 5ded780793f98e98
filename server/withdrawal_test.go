package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/internal/pii"
	"github.com/sealine/sealine/internal/testenv"
	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/server"
	"github.com/sealine/sealine/store"
)

const withdrawPassword = "correct horse battery"

func lifecycleAs(e *testenv.Env, token string) sealinev1connect.LifecycleServiceClient {
	return sealinev1connect.NewLifecycleServiceClient(e.HTTP, e.URL, testenv.WithToken(token))
}

// group is carol, bob and dave in one conversation, each having received
// carol's first message.
type group struct{ carol, bob, dave *member }

func newGroup(t *testing.T, e *testenv.Env, carolName string) (*group, *inbox, *inbox) {
	t.Helper()
	return newGroupWith(t, e, e.RegisterDevice(t, carolName, withdrawPassword, carolName+"-device"))
}

// newGroupWith is newGroup with carol's device registered by the caller.
func newGroupWith(t *testing.T, e *testenv.Env, carol testenv.Device) (*group, *inbox, *inbox) {
	t.Helper()
	g := &group{
		carol: newMember(t, e, carol),
		bob:   newMember(t, e, e.RegisterDevice(t, "bob", withdrawPassword, "laptop")),
		dave:  newMember(t, e, e.RegisterDevice(t, "dave", withdrawPassword, "laptop")),
	}
	g.bob.upload(t)
	g.dave.upload(t)
	g.carol.create(t)
	g.carol.add(t, g.bob.UserID)
	g.carol.add(t, g.dave.UserID)
	inB, inD := g.bob.subscribe(t, 0), g.dave.subscribe(t, 0)
	g.bob.join(t, inB, g.carol.conv)
	if env, _ := g.bob.receive(t, inB); env.GetKind() != sealinev1.Envelope_KIND_COMMIT {
		t.Fatalf("bob got %v, want the commit adding dave", env.GetKind())
	}
	g.dave.join(t, inD, g.carol.conv)
	return g, inB, inD
}

// carolTraces is everything that identifies carol in the store.
type carolTraces struct {
	ids     []string // user, device and blob ids
	sealed  [][]byte // sealed username, display name, device name, contacts
	indexes [][]byte // username and contact blind indexes
}

func tracesOf(t *testing.T, st store.Store, m *member, blobID string) carolTraces {
	t.Helper()
	ctx := context.Background()
	u, err := st.UserByID(ctx, m.UserID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Device(ctx, m.UserID, m.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	tr := carolTraces{
		ids:     []string{m.UserID, m.DeviceID, blobID},
		sealed:  [][]byte{u.UsernameEnc, u.DisplayNameEnc, d.NameEnc},
		indexes: [][]byte{u.UsernameIndex},
	}
	contacts, err := st.Contacts(ctx, m.UserID)
	if err != nil || len(contacts) != 2 {
		t.Fatalf("contacts = %v, %v; want phone and email", contacts, err)
	}
	for _, c := range contacts {
		tr.sealed = append(tr.sealed, c.ValueEnc)
		tr.indexes = append(tr.indexes, c.BlindIndex)
	}
	return tr
}

// TestWithdrawal: carol (distinctive name, phone, email, a message and a
// file) withdraws. Then (a) no table of the live data or key store holds
// anything of hers but the quarantine's blind index, and her file's bytes
// are gone; (b) a backup taken before, restored into a scratch server
// with the current key store, still holds her rows but they cannot be
// opened: pii reports the key destroyed; (c) bob and dave still talk.
func TestWithdrawal(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t)
	g, inB, inD := newGroup(t, e, "zq7carol")
	lc := lifecycleAs(e, g.carol.Token)
	setContact(t, lc, sealinev1.ContactKind_CONTACT_KIND_PHONE, "+81 90-7777-1234")
	setContact(t, lc, sealinev1.ContactKind_CONTACT_KIND_EMAIL, "Zq7.Carol@Example.org")
	bobLC := lifecycleAs(e, g.bob.Token) // bob's fields are the backup check's control
	setContact(t, bobLC, sealinev1.ContactKind_CONTACT_KIND_PHONE, "+81 90-1111-2222")
	setContact(t, bobLC, sealinev1.ContactKind_CONTACT_KIND_EMAIL, "Bob@Example.ORG")
	if _, err := g.carol.send(t, "zq7 message"); err != nil {
		t.Fatal(err)
	}
	g.bob.receive(t, inB)
	g.dave.receive(t, inD)
	blobID, err := uploadBlob(e, g.carol, g.carol.conv, []byte("zq7 attachment ciphertext"), 0)
	if err != nil {
		t.Fatal(err)
	}
	traces := tracesOf(t, e.Server.Store(), g.carol, blobID)
	backup := filepath.Join(t.TempDir(), "before.db")
	withAdmin(t, e.Config, func(a *server.Admin) error { return a.Backup(ctx, backup, nil) })

	before := e.DBDigest(t)
	_, err = lc.DeleteAccount(ctx, connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: "wrong password"}))
	if testenv.Reason(err) != server.ReasonBadCredentials || connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("delete with a wrong password: %v", err)
	}
	if e.DBDigest(t) != before {
		t.Fatal("a refused delete changed the database")
	}
	resp, err := lc.DeleteAccount(ctx, connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: withdrawPassword}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.GetDevices() != 1 || resp.Msg.GetBlobs() != 1 {
		t.Errorf("DeleteAccount = %v", resp.Msg)
	}
	_, err = lc.DeleteAccount(ctx, connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: withdrawPassword}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("second delete: %v, want unauthenticated", err)
	}

	t.Run("LiveHoldsNothing", func(t *testing.T) { checkNothingLeft(t, e, traces) })
	t.Run("BackupUnreadable", func(t *testing.T) { checkBackupShredded(t, e, backup, g) })
	t.Run("OthersStillTalk", func(t *testing.T) {
		if _, err := g.bob.send(t, "still here"); err != nil {
			t.Fatal(err)
		}
		if _, text := g.dave.receive(t, inD); text != "still here" {
			t.Fatalf("dave got %q", text)
		}
		// Bob commits the removal of carol's leaf (the server no longer
		// delivers to it); dave follows to the next epoch, and they talk.
		removeLeaf(t, g.bob, g.carol.Device)
		if env, _ := g.dave.receive(t, inD); env.GetKind() != sealinev1.Envelope_KIND_COMMIT {
			t.Fatalf("dave got %v, want bob's removal commit", env.GetKind())
		}
		if g.dave.group.Epoch() != g.bob.group.Epoch() || len(g.dave.group.Members()) != 2 {
			t.Fatalf("dave at epoch %d with %d members; bob at %d", g.dave.group.Epoch(), len(g.dave.group.Members()), g.bob.group.Epoch())
		}
		if _, err := g.bob.send(t, "past the removal"); err != nil {
			t.Fatal(err)
		}
		if _, text := g.dave.receive(t, inD); text != "past the removal" {
			t.Fatalf("dave got %q", text)
		}
	})
}

// removeLeaf commits, as m, the removal of gone's leaf.
func removeLeaf(t *testing.T, m *member, gone testenv.Device) {
	t.Helper()
	for _, mem := range m.group.Members() {
		if !bytes.Equal(mem.Credential.Identity, gone.Identity()) {
			continue
		}
		pc, err := m.group.Commit(mls.CommitParams{Remove: []mls.LeafIndex{mem.Leaf}})
		if err != nil {
			t.Fatal(err)
		}
		req := &sealinev1.CommitRequest{ConversationId: m.conv, Epoch: m.group.Epoch(), Commit: pc.Commit,
			RemovedDeviceIds: []string{gone.DeviceID}}
		if _, err := m.e.Conversations(m.Token).Commit(context.Background(), connect.NewRequest(req)); err != nil {
			t.Fatalf("commit the removal: %v", err)
		}
		if err := m.group.MergeCommit(pc); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no leaf of the withdrawn device")
}

func setContact(t *testing.T, lc sealinev1connect.LifecycleServiceClient, kind sealinev1.ContactKind, v string) {
	t.Helper()
	_, err := lc.SetContact(context.Background(), connect.NewRequest(&sealinev1.SetContactRequest{Kind: kind, Value: v}))
	if err != nil {
		t.Fatalf("SetContact(%v): %v", kind, err)
	}
}

func withAdmin(t *testing.T, cfg server.Config, fn func(a *server.Admin) error) {
	t.Helper()
	a, err := server.OpenAdmin(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := fn(a); err != nil {
		t.Fatal(err)
	}
}

// checkNothingLeft scans every table of the data file and the key file.
func checkNothingLeft(t *testing.T, e *testenv.Env, tr carolTraces) {
	for _, file := range []string{"sealine.db", "keys.db"} {
		scanTables(t, filepath.Join(e.DataDir, file), func(table string, v []byte) {
			for _, id := range tr.ids {
				if bytes.Contains(v, []byte(id)) {
					t.Errorf("%s: table %s still holds id %s", file, table, id)
				}
			}
			for _, s := range tr.sealed {
				if bytes.Equal(v, s) {
					t.Errorf("%s: table %s still holds a sealed field", file, table)
				}
			}
			for i, ix := range tr.indexes {
				if bytes.Equal(v, ix) && (i > 0 || table != "withdrawn_usernames") {
					t.Errorf("%s: table %s still holds blind index %d", file, table, i)
				}
			}
		})
	}
	filepath.WalkDir(filepath.Join(e.DataDir, "blobs"), func(p string, _ os.DirEntry, err error) error {
		if err == nil && filepath.Base(p) == tr.ids[2] {
			t.Errorf("blob bytes remain at %s", p)
		}
		return nil
	})
}

// scanTables calls fn with every value of every row of every table.
func scanTables(t *testing.T, path string, fn func(table string, v []byte)) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) == 0 {
		t.Fatalf("%s has no tables", path)
	}
	for _, table := range tables {
		scanTable(t, db, table, fn)
	}
}

func scanTable(t *testing.T, db *sql.DB, table string, fn func(string, []byte)) {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM "` + table + `"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			switch x := v.(type) {
			case []byte:
				fn(table, x)
			case string:
				fn(table, []byte(x))
			default:
				fn(table, []byte(fmt.Sprint(x)))
			}
		}
	}
}

// checkBackupShredded restores the backup into a scratch data dir with the
// current key store and KEK, runs a server on it, and opens what it can.
func checkBackupShredded(t *testing.T, e *testenv.Env, backup string, g *group) {
	ctx := context.Background()
	scratch := t.TempDir()
	kek, err := os.ReadFile(filepath.Join(e.DataDir, "kek.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scratch, "kek.key"), kek, 0o600); err != nil {
		t.Fatal(err)
	}
	withAdmin(t, e.Config, func(a *server.Admin) error {
		return a.BackupKeys(ctx, filepath.Join(scratch, "keys.db"), nil)
	})
	if err := server.Restore(ctx, server.Config{DataDir: scratch}, backup); err != nil {
		t.Fatal(err)
	}
	se := testenv.New(t, func(c *server.Config) { c.DataDir = scratch })
	withAdmin(t, se.Config, func(a *server.Admin) error {
		if _, err := a.Store().UserByID(ctx, g.carol.UserID); err != nil {
			return fmt.Errorf("the backup does not hold carol's row (test proves nothing): %w", err)
		}
		if _, err := a.OpenUser(ctx, g.carol.UserID); !errors.Is(err, server.ErrKeyDestroyed) {
			return fmt.Errorf("opening carol from the backup: err = %v, want ErrKeyDestroyed", err)
		}
		if name, err := a.OpenUser(ctx, g.bob.UserID); err != nil || name != "bob" {
			return fmt.Errorf("opening bob from the backup = %q, %v", name, err)
		}
		// Every sealed field of carol's stays shut; bob's all open.
		kek := filepath.Join(scratch, "kek.key")
		if err := openFields(ctx, kek, a.Store(), g.carol.UserID, nil); err != nil {
			return fmt.Errorf("carol in the backup: %w", err)
		}
		if err := openFields(ctx, kek, a.Store(), g.bob.UserID, bobFields); err != nil {
			return fmt.Errorf("bob in the backup: %w", err)
		}
		// The sweep after a restore removes carol's unreadable rows.
		if n, err := a.SweepWithdrawn(ctx); err != nil || n != 1 {
			return fmt.Errorf("SweepWithdrawn = %d, %v; want carol", n, err)
		}
		if _, err := a.Store().UserByID(ctx, g.carol.UserID); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("carol's row after the sweep: %v", err)
		}
		if name, err := a.OpenUser(ctx, g.bob.UserID); err != nil || name != "bob" {
			return fmt.Errorf("bob after the sweep = %q, %v", name, err)
		}
		return nil
	})
}

// bobFields are bob's sealed fields as TestWithdrawal sets them.
var bobFields = map[string]string{"username": "bob", "display_name": "bob", "device_name": "laptop",
	"phone": "+819011112222", "email": "bob@example.org"}

// openFields opens every sealed field the store holds for userID (the
// username, display name, each device name, phone and email) with the
// KEK file and the store's key store. With want nil, each must fail with
// ErrKeyDestroyed; else each must open to want[field].
func openFields(ctx context.Context, kekFile string, st store.Store, userID string, want map[string]string) error {
	u, err := st.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	type sealed struct {
		row, field string
		value      []byte
	}
	fields := []sealed{{userID, "username", u.UsernameEnc}, {userID, "display_name", u.DisplayNameEnc}}
	devices, err := st.ListDevices(ctx, userID)
	if err != nil {
		return err
	}
	for _, d := range devices {
		fields = append(fields, sealed{d.ID, "device_name", d.NameEnc})
	}
	contacts, err := st.Contacts(ctx, userID)
	if err != nil {
		return err
	}
	for _, c := range contacts {
		fields = append(fields, sealed{userID, string(c.Kind), c.ValueEnc})
	}
	seen := map[string]bool{}
	for _, f := range fields {
		seen[f.field] = true
		if len(f.value) == 0 {
			return fmt.Errorf("%s is empty: the test proves nothing", f.field)
		}
		got, err := openField(ctx, kekFile, st, userID, f.row, f.field, f.value)
		switch {
		case want == nil && !errors.Is(err, server.ErrKeyDestroyed):
			return fmt.Errorf("opening %s: %q, %v; want ErrKeyDestroyed", f.field, got, err)
		case want != nil && (err != nil || string(got) != want[f.field]):
			return fmt.Errorf("opening %s = %q, %v; want %q", f.field, got, err, want[f.field])
		}
	}
	for _, f := range []string{"username", "display_name", "device_name", "phone", "email"} {
		if !seen[f] {
			return fmt.Errorf("no sealed %s in the store: the test proves nothing", f)
		}
	}
	return nil
}

// openField unwraps userID's data key as the server does and opens one
// sealed field of row.
func openField(ctx context.Context, kekFile string, st store.Store, userID, row, field string, value []byte) ([]byte, error) {
	ring, err := pii.LoadRing(kekFile, false, rand.Reader)
	if err != nil {
		return nil, err
	}
	dk, err := ring.DataKey(ctx, st.Keys(), userID)
	if err != nil {
		return nil, err
	}
	return pii.Open(dk, row, field, value)
}

// TestUsernameQuarantine: a withdrawn username is refused as taken until
// the quarantine ends, then free.
func TestUsernameQuarantine(t *testing.T) {
	ctx := context.Background()
	e := testenv.New(t, func(c *server.Config) { c.Lifecycle.Retention.WithdrawnUsernames = 48 * time.Hour })
	d := e.RegisterDevice(t, "quinn", withdrawPassword, "laptop")
	_, err := lifecycleAs(e, d.Token).DeleteAccount(ctx, connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: withdrawPassword}))
	if err != nil {
		t.Fatal(err)
	}
	register := func() error {
		_, err := e.Accounts().Register(ctx, connect.NewRequest(&sealinev1.RegisterRequest{
			Username: "Quinn", Password: withdrawPassword, Device: testenv.NewDevice("laptop")}))
		return err
	}
	e.Clock.Advance(48*time.Hour - time.Second)
	if err := register(); testenv.Reason(err) != server.ReasonUsernameTaken {
		t.Fatalf("register during quarantine: %v, want username_taken", err)
	}
	e.Clock.Advance(time.Second)
	if err := register(); err != nil {
		t.Fatalf("register after quarantine: %v", err)
	}
}

func deleteReq(pw string) *connect.Request[sealinev1.DeleteAccountRequest] {
	return connect.NewRequest(&sealinev1.DeleteAccountRequest{Password: pw})
}
