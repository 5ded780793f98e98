package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sealine/sealine/store"
)

// seeded opens a store at dir/sealine.db (keys apart) with one user.
func seeded(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(dir, "sealine.db"), Options{KeysPath: filepath.Join(dir, "keys.db")})
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{ID: "u-b", UsernameIndex: []byte("ix-b"), UsernameEnc: []byte("e"), DisplayNameEnc: []byte("d"), PasswordHash: "h"}
	d := store.Device{ID: "d-b", UserID: "u-b", NameEnc: []byte("n"), SignatureKey: make([]byte, 32)}
	ses := store.Session{TokenHash: []byte("t-b"), UserID: "u-b", DeviceID: "d-b"}
	if err := s.CreateUser(t.Context(), u, d, ses); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBackupRestore(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := seeded(t, dir)
	out := filepath.Join(t.TempDir(), "backup.db")
	calls := 0
	if err := s.Backup(ctx, out, func(done, total int) { calls++ }); err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Error("no progress reported")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	wantErr(t, "backup over an existing file", s.Backup(ctx, out, nil), ErrExists)
	if _, err := s.DeleteUser(ctx, store.Withdrawal{UserID: "u-b", UsernameIndex: []byte("ix-b")}); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "sealine.db")
	wantErr(t, "restore while open", Restore(ctx, out, live), ErrInUse)
	s.Close()
	if err := Restore(ctx, out, live); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, live, Options{KeysPath: filepath.Join(dir, "keys.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.UserByID(ctx, "u-b"); err != nil {
		t.Fatalf("restored database lacks the user: %v", err)
	}
}

// TestRestoreRefusesBadBackups: a truncated, corrupted, foreign or missing
// backup is refused and the live file keeps its bytes.
func TestRestoreRefusesBadBackups(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := seeded(t, dir)
	good := filepath.Join(t.TempDir(), "good.db")
	if err := s.Backup(ctx, good, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	live := filepath.Join(dir, "sealine.db")
	before, _ := os.ReadFile(live)
	raw, _ := os.ReadFile(good)
	bad := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(bad, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupted := append([]byte(nil), raw...)
	for i := len(corrupted) / 2; i < len(corrupted)/2+4096 && i < len(corrupted); i++ {
		corrupted[i] ^= 0x5a
	}
	foreign := filepath.Join(bad, "foreign.db")
	f, err := Open(ctx, foreign, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.WriteFile(foreign, []byte("SQLite format 3\x00 but not really"), 0o600)
	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"truncated", write("truncated.db", raw[:len(raw)/2]), ErrBadBackup},
		{"corrupted", write("corrupted.db", corrupted), ErrBadBackup},
		{"empty", write("empty.db", nil), ErrBadBackup},
		{"not sqlite", foreign, ErrBadBackup},
		{"missing", filepath.Join(bad, "missing.db"), os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Restore(ctx, tc.path, live)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore = %v, want %v", err, tc.want)
			}
			if after, _ := os.ReadFile(live); string(after) != string(before) {
				t.Fatal("the live file changed")
			}
		})
	}
}

// TestBackupUnwritable: a backup to a path whose directory is a regular
// file, is missing, or (for non-root users) is not writable fails with an
// error that names the output and the cause, leaves nothing behind, and
// so does a backup cancelled after its temporary file was created.
func TestBackupUnwritable(t *testing.T) {
	s := seeded(t, t.TempDir())
	defer s.Close()
	cases := []struct {
		name  string
		setup func(t *testing.T) (dir, out string)
		ctx   func() context.Context
		want  error
		text  string
	}{
		{"under a regular file", func(t *testing.T) (string, string) {
			dir := t.TempDir()
			file := filepath.Join(dir, "file")
			if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, filepath.Join(file, "b.db")
		}, t.Context, syscall.ENOTDIR, "not a directory"},
		{"missing directory", func(t *testing.T) (string, string) {
			dir := t.TempDir()
			return dir, filepath.Join(dir, "no", "such", "b.db")
		}, t.Context, fs.ErrNotExist, "no such file or directory"},
		{"read-only directory", func(t *testing.T) (string, string) {
			if os.Geteuid() == 0 {
				t.Skip("running as root, which writes to a 0500 directory anyway")
			}
			dir := filepath.Join(t.TempDir(), "ro")
			if err := os.Mkdir(dir, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o700) })
			return dir, filepath.Join(dir, "b.db")
		}, t.Context, fs.ErrPermission, "permission denied"},
		{"cancelled", func(t *testing.T) (string, string) {
			dir := t.TempDir()
			return dir, filepath.Join(dir, "b.db")
		}, cancelled, context.Canceled, "context canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, out := tc.setup(t)
			before := listDir(t, dir)
			err := s.Backup(tc.ctx(), out, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Backup = %v, want %v", err, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, "backup "+out+":") || !strings.Contains(msg, tc.text) {
				t.Errorf("error %q does not name the output %s and say %q", msg, out, tc.text)
			}
			if after := listDir(t, dir); !slices.Equal(after, before) {
				t.Errorf("files under %s: %v before, %v after; want no leftovers", dir, before, after)
			}
		})
	}
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// listDir lists every path under dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// TestBackupWhileWriting: a backup taken while another connection keeps
// writing finishes, and is a consistent database.
func TestBackupWhileWriting(t *testing.T) {
	ctx := t.Context()
	s := seeded(t, t.TempDir())
	defer s.Close()
	big := make([]byte, 2048)
	user := func(i int) error {
		id := fmt.Sprintf("u-%d", i)
		u := store.User{ID: id, UsernameIndex: []byte(id), UsernameEnc: big, DisplayNameEnc: []byte("d"), PasswordHash: "h"}
		d := store.Device{ID: "d-" + id, UserID: id, NameEnc: []byte("n"), SignatureKey: make([]byte, 32)}
		return s.CreateUser(ctx, u, d, store.Session{TokenHash: []byte(id), UserID: id, DeviceID: d.ID})
	}
	for i := range 1500 {
		if err := user(i); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 1500
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
				if user(n) == nil {
					n++
				}
			}
		}
	}()
	out := filepath.Join(t.TempDir(), "busy.db")
	steps := 0
	err := s.Backup(ctx, out, func(int, int) { steps++ })
	close(stop)
	written := <-done
	if err != nil {
		t.Fatal(err)
	}
	if steps < 2 {
		t.Fatalf("the copy took %d step(s); the test needs several", steps)
	}
	b, err := Open(ctx, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range []string{"u-b", "u-0", "u-1499"} {
		if _, err := b.UserByID(ctx, id); err != nil {
			t.Fatalf("backup lacks %s: %v", id, err)
		}
	}
	t.Logf("%d users written during the backup", written-1500)
}
