package localstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// File names inside the client home.
const (
	DBFile  = "messages.db"
	KeyFile = "storage.key"
)

const schemaVersion = "1"

// Sentinel errors callers branch on.
var (
	ErrWrongKey           = errors.New("localstore: storage key or passphrase does not open the database")
	ErrPassphraseRequired = errors.New("localstore: the database is protected by a passphrase")
	ErrNoPassphrase       = errors.New("localstore: the database uses a key file, not a passphrase")
	ErrCorrupt            = errors.New("localstore: sealed value does not open")
	ErrNotFound           = errors.New("localstore: not found")
	ErrInsecure           = errors.New("localstore: file is readable by other users")
	ErrInUse              = errors.New("localstore: the database is open in another process")
)

// KDFParams are the Argon2id parameters for a passphrase.
type KDFParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultKDF is Argon2id t=2, m=64 MiB, p=2 (about 90 ms on our machines).
var DefaultKDF = KDFParams{Time: 2, MemoryKiB: 64 << 10, Threads: 2}

// Options configure Open. The zero value works: a random key file.
type Options struct {
	// Passphrase, when set, derives the storage key with Argon2id instead
	// of reading <home>/storage.key. It must be given on every open of a
	// database created with one.
	Passphrase string
	// KDF replaces DefaultKDF for a new database (tests use cheap ones).
	KDF *KDFParams
	// Rand is the source of keys, salts and nonces; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Store is an open local database. It is safe for concurrent use; writes
// are serialised.
type Store struct {
	db   *sql.DB
	key  sealer
	rand io.Reader
	now  func() time.Time

	stmts  map[string]*sql.Stmt // read-only after Open
	queues sync.Pool            // *queue, for Tx.QueueMessage

	// conn is the database's one connection, held from Open to Close;
	// puts are putMessagesQuery(n) prepared on its driver connection,
	// which flush runs without database/sql's copy of every argument.
	conn *sql.Conn
	puts map[int]driver.Stmt
	mu   sync.Mutex // one transaction at a time on conn
}

// prepare prepares the hot statements; it runs before any transaction
// (the database has one connection).
func (s *Store) prepare() error {
	for _, q := range hotQueries {
		st, err := s.db.Prepare(q)
		if err != nil {
			return fmt.Errorf("localstore: prepare: %w", err)
		}
		s.stmts[q] = st
	}
	return nil
}

// hold takes the database's one connection for the Store's life and
// prepares the multi-row inserts on it.
func (s *Store) hold() error {
	conn, err := s.db.Conn(context.Background())
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	s.conn = conn
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("localstore: the driver does not prepare with a context")
		}
		for _, n := range putRows {
			st, err := pc.PrepareContext(context.Background(), putMessagesQuery(n))
			if err != nil {
				return fmt.Errorf("localstore: prepare: %w", err)
			}
			s.puts[n] = st
		}
		return nil
	})
}

// Open opens or creates the database in dir (which must exist, mode 0700).
// The database stays locked until Close: opening it again before then,
// from this process or another, fails with ErrInUse.
func Open(dir string, opt Options) (*Store, error) {
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	path := filepath.Join(dir, DBFile)
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	// locking_mode EXCLUSIVE: the first transaction locks the file until
	// Close, so that no other process works on the same MLS states (two
	// copies of a state in memory, each saved in turn, could encrypt
	// twice with one key), and so that a transaction takes no file locks
	// (the WAL index lives in this process's memory).
	dsn := "file:" + path + "?_pragma=busy_timeout(2000)&_pragma=locking_mode(EXCLUSIVE)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)&_pragma=secure_delete(ON)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	db.SetMaxOpenConns(1)
	s := &Store{db: db, rand: opt.Rand, now: opt.Now, stmts: map[string]*sql.Stmt{}, puts: map[int]driver.Stmt{}}
	s.queues.New = func() any { return new(queue) }
	if err := s.init(dir, opt); err != nil {
		db.Close()
		return nil, inUse(err)
	}
	if err := errors.Join(s.prepare(), s.hold()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// inUse turns SQLITE_BUSY, which only another process holding the
// database causes (a Store has one connection), into ErrInUse.
func inUse(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("%w: %w", ErrInUse, err)
	}
	return err
}

// createPrivate creates path empty with mode 0600 if it does not exist and
// refuses an existing one that others can read.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("localstore: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o", ErrInsecure, path, fi.Mode().Perm())
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.conn != nil {
		errs = append(errs, s.conn.Raw(func(any) error {
			for _, st := range s.puts {
				st.Close()
			}
			return nil
		}), s.conn.Close())
		s.conn = nil // a second Close, or a transaction after it, finds db closed
	}
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(append(errs, s.db.Close())...)
}

// init creates the schema and loads or creates the storage key.
func (s *Store) init(dir string, opt Options) error {
	return s.Update(func(tx *Tx) error {
		if _, err := tx.tx.Exec(schema); err != nil {
			return fmt.Errorf("localstore: schema: %w", err)
		}
		src, err := tx.meta("key_source")
		if errors.Is(err, ErrNotFound) {
			return s.createKey(tx, dir, opt)
		}
		if err != nil {
			return err
		}
		if err := s.loadKey(tx, dir, string(src), opt); err != nil {
			return err
		}
		return migratePlainUsers(tx)
	})
}

// migratePlainUsers moves the usernames that databases before table
// user_names kept in plaintext (table users) into sealed rows and drops
// the old table, whose pages secure_delete overwrites.
func migratePlainUsers(tx *Tx) error {
	var n int
	err := tx.queryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'users'`).Scan(&n)
	if err != nil || n == 0 {
		return err
	}
	rows, err := tx.query(`SELECT user_id, username FROM users`)
	if err != nil {
		return fmt.Errorf("localstore: migrate users: %w", err)
	}
	type user struct{ id, name string }
	var users []user
	for rows.Next() {
		var u user
		if err := rows.Scan(&u.id, &u.name); err != nil {
			rows.Close()
			return fmt.Errorf("localstore: migrate users: %w", err)
		}
		users = append(users, u)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("localstore: migrate users: %w", err)
	}
	for _, u := range users {
		if err := tx.PutUser(u.id, u.name); err != nil {
			return err
		}
	}
	if _, err := tx.tx.Exec(`DROP TABLE users`); err != nil {
		return fmt.Errorf("localstore: migrate users: %w", err)
	}
	return nil
}

const checkValue = "sealine/v1/localstore key check"

// createKey picks the key source for a new database and seals the check.
func (s *Store) createKey(tx *Tx, dir string, opt Options) error {
	var err error
	if opt.Passphrase != "" {
		err = s.newPassphraseKey(tx, opt)
	} else {
		err = s.newFileKey(tx, dir)
	}
	if err != nil {
		return err
	}
	check, err := s.key.seal(s.rand, []byte(checkValue), "meta", "key_check", "value")
	if err != nil {
		return err
	}
	if err := tx.setMeta("key_check", check); err != nil {
		return err
	}
	return tx.setMeta("schema", []byte(schemaVersion))
}

// loadKey derives or reads the key recorded in meta and checks it.
func (s *Store) loadKey(tx *Tx, dir, src string, opt Options) error {
	var err error
	switch src {
	case "argon2id":
		err = s.passphraseKey(tx, opt)
	case "file":
		if opt.Passphrase != "" {
			return ErrNoPassphrase
		}
		err = s.fileKey(dir)
	default:
		return fmt.Errorf("localstore: unknown key source %q", src)
	}
	if err != nil {
		return err
	}
	check, err := tx.meta("key_check")
	if err != nil {
		return err
	}
	if _, err := s.key.open(check, "meta", "key_check", "value"); err != nil {
		return ErrWrongKey
	}
	return nil
}

// readKeyFile reads a 32-byte key file with mode 0600.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing", ErrWrongKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o", ErrInsecure, path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("localstore: %w", err)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: %s is not a %d-byte key", ErrWrongKey, path, keySize)
	}
	return key, nil
}

func (s *Store) fileKey(dir string) error {
	key, err := readKeyFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return err
	}
	s.key, err = newSealer(key)
	return err
}

// newFileKey writes a fresh random key file (refusing to replace one).
func (s *Store) newFileKey(tx *Tx, dir string) error {
	key := make([]byte, keySize)
	if _, err := io.ReadFull(s.rand, key); err != nil {
		return fmt.Errorf("localstore: key: %w", err)
	}
	path := filepath.Join(dir, KeyFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // left by a creation that did not commit
		if key, err = readKeyFile(path); err != nil {
			return err
		}
		return s.useFileKey(tx, key)
	}
	if err != nil {
		return fmt.Errorf("localstore: key file: %w", err)
	}
	_, werr := f.Write(key)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return fmt.Errorf("localstore: key file: %w", err)
	}
	return s.useFileKey(tx, key)
}

func (s *Store) useFileKey(tx *Tx, key []byte) error {
	var err error
	if s.key, err = newSealer(key); err != nil {
		return err
	}
	return tx.setMeta("key_source", []byte("file"))
}

// Update runs fn in one write transaction; fn's error rolls it back.
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.run(fn)
}

// View runs fn in a transaction that is always rolled back.
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.run(func(tx *Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errReadOnly
	})
}

var errReadOnly = errors.New("read only")

// begin starts a transaction on the held connection (on the pool's one
// connection while Open has not taken it yet).
func (s *Store) begin() (*sql.Tx, error) {
	if s.conn != nil {
		return s.conn.BeginTx(context.Background(), nil)
	}
	return s.db.BeginTx(context.Background(), nil)
}

func (s *Store) run(fn func(tx *Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sqlTx, err := s.begin()
	if err != nil {
		return fmt.Errorf("localstore: begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, s: s}
	err = fn(tx)
	if err == nil {
		err = errors.Join(tx.err, tx.flush())
	}
	tx.release()
	if err != nil {
		sqlTx.Rollback()
		if errors.Is(err, errReadOnly) {
			return nil
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("localstore: commit: %w", err)
	}
	return nil
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
  conv_id TEXT PRIMARY KEY, group_id BLOB NOT NULL, direct INTEGER NOT NULL,
  peer TEXT NOT NULL, epoch INTEGER NOT NULL, send_epoch INTEGER NOT NULL, send_seq INTEGER NOT NULL,
  prev_epoch INTEGER NOT NULL, prev_count INTEGER NOT NULL,
  name BLOB NOT NULL, state BLOB NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS key_packages (
  ref BLOB PRIMARY KEY, last_resort INTEGER NOT NULL, private BLOB NOT NULL,
  created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  conv_id TEXT NOT NULL, msg_id BLOB NOT NULL, sender TEXT NOT NULL,
  seq INTEGER NOT NULL, kind INTEGER NOT NULL, sent_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL, body BLOB NOT NULL,
  PRIMARY KEY (conv_id, msg_id));
CREATE INDEX IF NOT EXISTS messages_time ON messages (conv_id, received_at);
CREATE TABLE IF NOT EXISTS senders (
  conv_id TEXT NOT NULL, sender TEXT NOT NULL, epoch INTEGER NOT NULL, highest INTEGER NOT NULL,
  missing BLOB NOT NULL, PRIMARY KEY (conv_id, sender));
CREATE TABLE IF NOT EXISTS user_names (
  user_id TEXT PRIMARY KEY, name_index BLOB NOT NULL, username BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS user_names_index ON user_names (name_index);
`
