package localstore

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var cheap = &KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func tempHome(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustOpen(t *testing.T, dir string, opt Options) *Store {
	t.Helper()
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"key file", Options{}},
		{"passphrase", Options{Passphrase: "correct horse", KDF: cheap}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempHome(t)
			s := mustOpen(t, dir, tc.opt)
			g := Group{ConvID: "c1", GroupID: []byte{1, 2}, Direct: true, Peer: "u2", Epoch: 3, SendEpoch: 3, SendSeq: 4,
				PrevEpoch: 2, PrevCount: 5, Name: "secret name", State: []byte("state")}
			m := Message{ConvID: "c1", ID: []byte("id1"), Sender: "u1/d1", Seq: 1, Kind: 1, SentAt: time.UnixMilli(5), ReceivedAt: time.UnixMilli(6), Body: []byte("hello")}
			err := s.Update(func(tx *Tx) error {
				return errors.Join(tx.PutGroup(g), tx.PutMessage(m), tx.SetCursor(42),
					tx.PutKeyPackage(KeyPackage{Ref: []byte("ref"), Private: []byte("kp-secret-zq")}),
					tx.PutSender("c1", "u1/d1", SenderState{Highest: 7, Missing: map[uint64]time.Time{5: time.UnixMilli(9)}}),
					tx.PutUser("u2", "zqcontactname"))
			})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = mustOpen(t, dir, tc.opt)
			err = s.View(func(tx *Tx) error {
				got, err := tx.Group("c1")
				if err != nil || got.Name != g.Name || !bytes.Equal(got.State, g.State) || got.Epoch != 3 || !got.Direct ||
					got.SendEpoch != 3 || got.SendSeq != 4 || got.PrevEpoch != 2 || got.PrevCount != 5 {
					t.Errorf("Group = %+v, %v", got, err)
				}
				ms, err := tx.Messages("c1", 10)
				if err != nil || len(ms) != 1 || string(ms[0].Body) != "hello" {
					t.Errorf("Messages = %+v, %v", ms, err)
				}
				if c, err := tx.Cursor(); c != 42 || err != nil {
					t.Errorf("Cursor = %d, %v", c, err)
				}
				kp, err := tx.KeyPackage([]byte("ref"))
				if err != nil || string(kp.Private) != "kp-secret-zq" {
					t.Errorf("KeyPackage = %+v, %v", kp, err)
				}
				st, err := tx.Sender("c1", "u1/d1")
				if err != nil || st.Highest != 7 || st.Missing[5].UnixMilli() != 9 {
					t.Errorf("Sender = %+v, %v", st, err)
				}
				if err := tx.PutMessage(m); !errors.Is(err, ErrDuplicate) {
					t.Errorf("second PutMessage = %v, want ErrDuplicate", err)
				}
				if name, err := tx.Username("u2"); err != nil || name != "zqcontactname" {
					t.Errorf("Username = %q, %v", name, err)
				}
				if id, err := tx.UserID("zqcontactname"); err != nil || id != "u2" {
					t.Errorf("UserID = %q, %v", id, err)
				}
				if _, err := tx.UserID("nobody"); !errors.Is(err, ErrNotFound) {
					t.Errorf("UserID of an unknown name = %v, want ErrNotFound", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			assertNoPlaintext(t, dir, "secret name", "hello", "kp-secret-zq", "zqcontactname")
		})
	}
}

// assertNoPlaintext fails if any file under dir contains one of words.
func assertNoPlaintext(t *testing.T, dir string, words ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				t.Errorf("%s holds %q in plaintext", path, w)
			}
		}
		return nil
	})
}

func TestKeyErrors(t *testing.T) {
	dir := tempHome(t)
	s := mustOpen(t, dir, Options{Passphrase: "one", KDF: cheap})
	s.Close()
	for _, tc := range []struct {
		opt  Options
		want error
	}{
		{Options{Passphrase: "two"}, ErrWrongKey},
		{Options{}, ErrPassphraseRequired},
	} {
		if _, err := Open(dir, tc.opt); !errors.Is(err, tc.want) {
			t.Errorf("Open(%+v) = %v, want %v", tc.opt.Passphrase, err, tc.want)
		}
	}
	dir2 := tempHome(t)
	mustOpen(t, dir2, Options{}).Close()
	if _, err := Open(dir2, Options{Passphrase: "x"}); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("passphrase on key-file db = %v", err)
	}
	os.Chmod(filepath.Join(dir2, KeyFile), 0o644)
	if _, err := Open(dir2, Options{}); !errors.Is(err, ErrInsecure) {
		t.Errorf("open with 0644 key file = %v", err)
	}
	os.WriteFile(filepath.Join(dir2, KeyFile), make([]byte, 32), 0o600)
	os.Chmod(filepath.Join(dir2, KeyFile), 0o600)
	if _, err := Open(dir2, Options{}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("open with another key = %v", err)
	}
}

func TestSwappedCiphertextRefused(t *testing.T) {
	dir := tempHome(t)
	s := mustOpen(t, dir, Options{})
	err := s.Update(func(tx *Tx) error {
		return errors.Join(
			tx.PutMessage(Message{ConvID: "c", ID: []byte("a"), Body: []byte("from a")}),
			tx.PutMessage(Message{ConvID: "c", ID: []byte("b"), Body: []byte("from b")}))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *Tx) error {
		return tx.exec(`UPDATE messages SET body = (SELECT body FROM messages WHERE msg_id = X'61') WHERE msg_id = X'62'`)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *Tx) error {
		_, err := tx.Messages("c", 10)
		return err
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Messages after swap = %v, want ErrCorrupt", err)
	}
}

func TestFilesArePrivate(t *testing.T) {
	dir := tempHome(t)
	mustOpen(t, dir, Options{})
	for _, name := range []string{DBFile, KeyFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", name, fi.Mode(), err)
		}
	}
}

func FuzzParseKDFRecord(f *testing.F) {
	f.Add(kdfRecord(DefaultKDF, make([]byte, saltSize)))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, salt, err := parseKDFRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(kdfRecord(p, salt), b) {
			t.Fatalf("round trip mismatch")
		}
	})
}

func TestKeyPackageExpiry(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	s := mustOpen(t, tempHome(t), Options{Now: func() time.Time { return now }})
	err := s.Update(func(tx *Tx) error {
		return errors.Join(tx.PutKeyPackage(KeyPackage{Ref: []byte("old"), Private: []byte{1}}),
			tx.PutKeyPackage(KeyPackage{Ref: []byte("lr"), LastResort: true, Private: []byte{2}}))
	})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	err = s.Update(func(tx *Tx) error {
		if err := tx.PutKeyPackage(KeyPackage{Ref: []byte("new"), Private: []byte{3}}); err != nil {
			return err
		}
		if at, err := tx.LastResortCreated(); err != nil || at.UnixMilli() != 1_000_000 {
			t.Errorf("LastResortCreated = %v, %v", at, err)
		}
		n, err := tx.DeleteKeyPackagesBefore(now.Add(-time.Minute))
		if n != 2 || err != nil {
			t.Errorf("DeleteKeyPackagesBefore = %d, %v; want 2", n, err)
		}
		if c, _ := tx.CountKeyPackages(); c != 1 {
			t.Errorf("left %d one-time key packages, want 1", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPlainUsersMigrated: a database from before usernames were sealed
// (table users, plaintext) has them moved into sealed rows on open, and
// no trace of the plaintext is left in the file.
func TestPlainUsersMigrated(t *testing.T) {
	dir := tempHome(t)
	mustOpen(t, dir, Options{}).Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE users (user_id TEXT PRIMARY KEY, username TEXT NOT NULL);
		CREATE INDEX users_name ON users (username);
		INSERT INTO users VALUES ('u7', 'zqoldplainname'), ('u8', 'zqotherplainname')`)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := mustOpen(t, dir, Options{})
	err = s.View(func(tx *Tx) error {
		for id, name := range map[string]string{"u7": "zqoldplainname", "u8": "zqotherplainname"} {
			if got, err := tx.Username(id); err != nil || got != name {
				t.Errorf("Username(%s) = %q, %v", id, got, err)
			}
			if got, err := tx.UserID(name); err != nil || got != id {
				t.Errorf("UserID(%s) = %q, %v", name, got, err)
			}
		}
		var n int
		if err := tx.queryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'users'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("old users table still there: %d, %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	assertNoPlaintext(t, dir, "zqoldplainname", "zqotherplainname")
	mustOpen(t, dir, Options{}).Close() // a second open has nothing to migrate
}

// TestOpenTwiceRefused: a second Store on the same database, as another
// process would open it, is refused while the first is open (each would
// hold the MLS states in memory and overwrite the other's), and opens
// once the first is closed.
func TestOpenTwiceRefused(t *testing.T) {
	dir := tempHome(t)
	s := mustOpen(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.SetCursor(7) }); err != nil {
		t.Fatalf("first store after a refused second open: %v", err)
	}
	s.Close()
	s2 := mustOpen(t, dir, Options{})
	var c uint64
	if err := s2.View(func(tx *Tx) (err error) { c, err = tx.Cursor(); return err }); err != nil || c != 7 {
		t.Fatalf("cursor after reopen: %d, %v", c, err)
	}
}

// TestQueueMessage: queued messages are written in order, before the
// next statement of the transaction reads, in any number; the first of
// two with one id is kept; a transaction that fails keeps none.
func TestQueueMessage(t *testing.T) {
	s := mustOpen(t, tempHome(t), Options{})
	msg := func(conv string, id, body byte) Message {
		return Message{ConvID: conv, ID: []byte{id}, Sender: "u1/d1", Seq: uint64(id), Kind: 1,
			SentAt: time.UnixMilli(5), ReceivedAt: time.UnixMilli(6), Body: []byte{body}}
	}
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutMessage(msg("c1", 0, 'a')); err != nil {
			return err
		}
		for i := range byte(45) { // 32 + 8 + 2 + 2 + 1 rows
			if err := tx.QueueMessage(msg("c1", i, 'b')); err != nil { // 0 is already stored
				return err
			}
		}
		if err := tx.QueueMessage(msg("c1", 3, 'c')); err != nil { // queued twice
			return err
		}
		if err := tx.QueueMessage(msg("c2", 3, 'd')); err != nil { // another conversation
			return err
		}
		got, err := tx.Messages("c1", 100) // reads what was queued
		if err != nil {
			return err
		}
		if len(got) != 45 {
			t.Errorf("in the transaction: %d messages, want 45", len(got))
		}
		return tx.QueueMessage(msg("c1", 45, 'b')) // written at commit
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *Tx) error {
		if err := tx.QueueMessage(msg("c1", 46, 'e')); err != nil {
			return err
		}
		return errors.New("fail")
	})
	if err == nil {
		t.Fatal("failed transaction committed")
	}
	err = s.View(func(tx *Tx) error {
		got, err := tx.Messages("c1", 100)
		if err != nil {
			return err
		}
		if len(got) != 46 {
			t.Fatalf("%d messages, want 46", len(got))
		}
		for i, m := range got {
			want := byte('b')
			if i == 0 {
				want = 'a'
			}
			if m.ID[0] != byte(i) || m.Body[0] != want {
				t.Errorf("message %d: id %d body %q, want id %d body %q", i, m.ID[0], m.Body, i, want)
			}
		}
		other, err := tx.Messages("c2", 10)
		if err != nil || len(other) != 1 || other[0].Body[0] != 'd' {
			t.Errorf("conversation c2: %v %v", other, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueueMessageColumns: every column of a queued message reads back as
// queued, whether its conversation, sender and times equal the previous
// row's (flush binds such values once) or not; a message without an id
// is refused.
func TestQueueMessageColumns(t *testing.T) {
	s := mustOpen(t, tempHome(t), Options{})
	var want []Message
	for i := range 40 {
		sent := time.UnixMilli(int64(1000 + i/3))
		recv := sent
		if i%4 != 0 {
			recv = time.UnixMilli(int64(2000 + i/2))
		}
		want = append(want, Message{ConvID: []string{"c1", "c2"}[i/20], ID: []byte{byte(i), 1},
			Sender: []string{"u1/d1", "u2/d1"}[i/5%2], Seq: uint64(300 + i), Kind: 1 + i%2,
			SentAt: sent, ReceivedAt: recv, Body: []byte{'m', byte(i)}})
	}
	err := s.Update(func(tx *Tx) error {
		for _, m := range want {
			if err := tx.QueueMessage(m); err != nil {
				return err
			}
		}
		if err := tx.QueueMessage(Message{ConvID: "c1", Body: []byte("x")}); !errors.Is(err, errNoID) {
			t.Errorf("QueueMessage without an id: %v, want errNoID", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *Tx) error {
		got := map[byte]Message{}
		for _, conv := range []string{"c1", "c2"} {
			ms, err := tx.Messages(conv, 100)
			if err != nil {
				return err
			}
			for _, m := range ms {
				got[m.ID[0]] = m
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d messages, want %d", len(got), len(want))
		}
		for i, w := range want {
			g := got[byte(i)]
			if g.ConvID != w.ConvID || !bytes.Equal(g.ID, w.ID) || g.Sender != w.Sender || g.Seq != w.Seq ||
				g.Kind != w.Kind || !g.SentAt.Equal(w.SentAt) || !g.ReceivedAt.Equal(w.ReceivedAt) || !bytes.Equal(g.Body, w.Body) {
				t.Errorf("message %d = %+v, want %+v", i, g, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCloseTwice: a second Close succeeds, and a transaction after Close
// fails instead of waiting for the connection.
func TestCloseTwice(t *testing.T) {
	s, err := Open(tempHome(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.SetCursor(1) }); err == nil {
		t.Fatal("Update after Close succeeded")
	}
}
