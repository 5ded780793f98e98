package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	sqlite "modernc.org/sqlite"
)

// Backup and restore of one SQLite file.
//
// Backup copies the live database with SQLite's online backup API, a few
// hundred pages per step, so it runs beside a serving node; a write by
// another connection restarts the copy, so what lands is one consistent
// snapshot. After a restart the copy finishes in one step (holding a read
// snapshot, which WAL lets writers work beside), so a busy server cannot
// keep a backup from ever finishing. The copy goes to a temporary 0600 file beside the output, is
// checked (PRAGMA integrity_check), fsynced and only then renamed into
// place, so a failed backup leaves nothing at the output path.
//
// Restore refuses a file that is not a whole, consistent Sealine database
// of a schema this binary knows (ErrBadBackup), and refuses while another
// connection has the live file open (ErrInUse); in both cases the live
// file is untouched. Otherwise it copies the backup beside the live file
// and renames it over it.

// Sentinel errors of backup and restore.
var (
	// ErrBadBackup: the file is corrupted, truncated, not SQLite, or not
	// a Sealine database this binary can restore.
	ErrBadBackup = errors.New("sqlite: not a usable backup")
	// ErrInUse: the live database is open elsewhere (stop the server).
	ErrInUse = errors.New("sqlite: database is in use; stop the server before restoring")
	// ErrExists: the backup's output path already exists.
	ErrExists = errors.New("sqlite: output file exists")
)

// backupStep is how many pages one backup step copies.
const backupStep = 256

// Progress reports done of total pages copied.
type Progress func(done, total int)

// backuper is the modernc.org/sqlite connection's backup method.
type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// Backup writes a consistent snapshot of the data file to out, which must
// not exist. The key file (Options.KeysPath) is not included: it has its
// own backups and retention (see BackupKeys).
func (s *Store) Backup(ctx context.Context, out string, progress Progress) error {
	return backupFile(ctx, s.pools.reader, out, progress)
}

// BackupKeys writes a snapshot of the key store to out.
func (s *Store) BackupKeys(ctx context.Context, out string, progress Progress) error {
	_, p := s.keyStore()
	return backupFile(ctx, p.reader, out, progress)
}

func backupFile(ctx context.Context, db *sql.DB, out string, progress Progress) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("backup %s: %w", out, ErrExists)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the temporary file's: name the directory instead
		}
		return fmt.Errorf("backup %s: cannot create a file in %s: %w", out, filepath.Dir(out), err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	err = copyPages(ctx, db, tmpName, progress)
	if err == nil {
		err = checkFile(ctx, tmpName)
	}
	if err == nil {
		err = syncRename(tmpName, out)
	}
	if err != nil {
		os.Remove(tmpName)
		return fmt.Errorf("backup %s: %w", out, err)
	}
	return nil
}

// copyPages runs the online backup into dst step by step.
func copyPages(ctx context.Context, db *sql.DB, dst string, progress Progress) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		b, ok := dc.(backuper)
		if !ok {
			return errors.New("driver has no backup API")
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		step, left := int32(backupStep), -1
		for more := true; more; {
			if err := ctx.Err(); err != nil {
				return errors.Join(err, bk.Finish())
			}
			if more, err = bk.Step(step); err != nil {
				return errors.Join(err, bk.Finish())
			}
			if left >= 0 && bk.Remaining() > left {
				step = -1 // a write restarted the copy: finish in one step
			}
			left = bk.Remaining()
			if progress != nil {
				progress(bk.PageCount()-left, bk.PageCount())
			}
		}
		return bk.Finish()
	})
}

// checkFile opens path read-only and runs the integrity check; a file
// that fails it wraps ErrBadBackup.
func checkFile(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&result); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	if result != "ok" {
		return fmt.Errorf("%w: integrity check: %s", ErrBadBackup, result)
	}
	return nil
}

// syncRename fsyncs src, renames it to dst and fsyncs the directory.
func syncRename(src, dst string) error {
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := errors.Join(f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Restore replaces the data file at live with the backup at in, after
// checking the backup (ErrBadBackup) and that nothing has live open
// (ErrInUse). On any error live is untouched.
func Restore(ctx context.Context, in, live string) error {
	if err := checkBackup(ctx, in); err != nil {
		return fmt.Errorf("restore %s: %w", in, err)
	}
	if err := quiesce(ctx, live); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp, err := copyBeside(in, live)
	if err == nil {
		err = checkBackup(ctx, tmp)
		if err == nil {
			err = syncRename(tmp, live)
		}
		if err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(live + suffix)
	}
	return nil
}

// checkBackup checks integrity, then that the file is a Sealine data file
// of a schema this binary knows.
func checkBackup(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() == 0 || !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: empty or not a regular file", ErrBadBackup)
	}
	if err := checkFile(ctx, path); err != nil {
		return err
	}
	return checkSchema(ctx, path)
}

func checkSchema(ctx context.Context, path string) error {
	sets, err := migrationSets()
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	var v int64
	if err := db.QueryRowContext(ctx, "SELECT version FROM schema_version WHERE id = 1").Scan(&v); err != nil {
		return fmt.Errorf("%w: no Sealine schema version: %v", ErrBadBackup, err)
	}
	if v < 1 || int(v) > sets[0].Latest() {
		return fmt.Errorf("%w: schema version %d, this binary knows 1..%d", ErrBadBackup, v, sets[0].Latest())
	}
	return nil
}

// quiesce checks that no other connection has the live file open, by
// taking it out of WAL mode (which needs exclusive access) after a
// checkpoint. A missing live file is fine.
func quiesce(ctx context.Context, live string) error {
	if _, err := os.Stat(live); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(live)+"?_pragma=busy_timeout(0)")
	if err != nil {
		return err
	}
	defer db.Close()
	var mode string
	err = db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode)
	if err != nil || mode != "delete" {
		return fmt.Errorf("%w (%v)", ErrInUse, classify(err))
	}
	return nil
}

// copyBeside copies in to a temporary 0600 file in live's directory.
func copyBeside(in, live string) (string, error) {
	src, err := os.Open(in)
	if err != nil {
		return "", err
	}
	defer src.Close()
	f, err := os.CreateTemp(filepath.Dir(live), "."+filepath.Base(live)+".restore-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, src)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// escapePath escapes a path for a file: URI.
func escapePath(p string) string {
	abs, err := filepath.Abs(p)
	if err == nil {
		p = abs
	}
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}
