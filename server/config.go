package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sealine/sealine/internal/password"
	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/postgres"
)

// Config configures a Server. The zero value serves on 127.0.0.1:8443 with
// SQLite and a self-signed certificate in DefaultDataDir().
type Config struct {
	// Addr is the HTTPS listen address; "" = "127.0.0.1:8443".
	// "127.0.0.1:0" picks a free port (see Server.URL).
	Addr string
	// DataDir holds the database, the KEK and the certificate; "" =
	// DefaultDataDir(). Created with mode 0700.
	DataDir string
	// DB selects the store: "" = SQLite at <DataDir>/sealine.db,
	// "sqlite:<path>" = SQLite at path, "postgres://..." or
	// "postgresql://..." = PostgreSQL. Anything else is an error.
	DB string
	// Store, when set, is used instead of opening DB (embedding, tests).
	// The server closes it when Run returns.
	Store store.Store
	// TLSCertFile and TLSKeyFile are PEM files; both empty = a self-signed
	// ECDSA P-256 certificate for localhost, 127.0.0.1 and ::1, kept in
	// <DataDir>/tls and reused.
	TLSCertFile string
	TLSKeyFile  string
	// MetricsAddr serves Prometheus metrics over plain HTTP at /metrics;
	// "" = off. It must be a loopback address.
	MetricsAddr string
	// KEKFile is the key-encryption key; "" = <DataDir>/kek.key, created
	// (32 random bytes, mode 0600) on first start.
	KEKFile string
	// Logger receives JSON-friendly structured logs; nil = discard.
	Logger *slog.Logger
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Rand is the randomness source; nil = crypto/rand.
	Rand io.Reader
	// Version is reported in the start line.
	Version string
	// NodeID names this node in logs and metrics; "" = random.
	NodeID string

	// PasswordParams are the Argon2id parameters for new hashes; zero =
	// password.DefaultParams(). Stored hashes with other parameters are
	// re-hashed at the next successful login.
	PasswordParams password.Params
	// MaxConcurrentHashes bounds Argon2id runs at once; 0 = 2.
	MaxConcurrentHashes int
	// LockoutFailures consecutive wrong passwords lock an account for
	// LockoutDuration; 0 = 5 and 15 minutes.
	LockoutFailures int
	LockoutDuration time.Duration
	// LoginBurst and LoginInterval set the per-IP token bucket that Register,
	// Login and ChangePassword draw from before hashing: LoginBurst tokens,
	// one more every LoginInterval; 0 = 10 and 3 seconds.
	LoginBurst    int
	LoginInterval time.Duration
	// SessionTTL is how long a session lives; 0 = 30 days.
	SessionTTL time.Duration
	// Notifier wakes open streams when a user's devices change; nil = an
	// in-process notifier. Streams also re-check the store every
	// WatchPoll (0 = 30 seconds), so a lost hint only delays an event.
	Notifier  Notifier
	WatchPoll time.Duration
	// ShutdownTimeout bounds the graceful shutdown; 0 = 10 seconds.
	ShutdownTimeout time.Duration
	// Messaging bounds key packages, queues and blobs (see MessagingConfig).
	Messaging MessagingConfig
	// Lifecycle sets retention periods and the purge job (see
	// LifecycleConfig and RetentionTable).
	Lifecycle LifecycleConfig
}

// DefaultDataDir returns $XDG_DATA_HOME/sealine, or ~/.local/share/sealine.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "sealine")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".", "sealine-data")
	}
	return filepath.Join(home, ".local", "share", "sealine")
}

// ErrBadDB: Config.DB has a form the server does not understand.
var ErrBadDB = errors.New(`server: db must be empty (SQLite in the data dir), "sqlite:<path>", or a postgres:// or postgresql:// URL`)

// ErrMetricsNotLoopback: Config.MetricsAddr is not a loopback address.
var ErrMetricsNotLoopback = errors.New("server: metrics address must be a loopback address (127.0.0.1, ::1 or localhost)")

// withDefaults returns cfg with zero values replaced by defaults.
func (cfg Config) withDefaults() Config {
	cfg.Addr = or(cfg.Addr, "127.0.0.1:8443")
	cfg.DataDir = or(cfg.DataDir, DefaultDataDir())
	cfg.KEKFile = or(cfg.KEKFile, filepath.Join(cfg.DataDir, "kek.key"))
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.LockoutFailures = or(cfg.LockoutFailures, 5)
	cfg.LockoutDuration = or(cfg.LockoutDuration, 15*time.Minute)
	cfg.LoginBurst = or(cfg.LoginBurst, 10)
	cfg.LoginInterval = or(cfg.LoginInterval, 3*time.Second)
	cfg.SessionTTL = or(cfg.SessionTTL, 30*24*time.Hour)
	cfg.WatchPoll = or(cfg.WatchPoll, 30*time.Second)
	cfg.ShutdownTimeout = or(cfg.ShutdownTimeout, 10*time.Second)
	if cfg.Notifier == nil {
		cfg.Notifier = NewLocalNotifier()
	}
	return cfg
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// check validates the fields that need no I/O.
func (cfg Config) check() error {
	if err := cfg.checkDB(); err != nil {
		return err
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return errors.New("server: set both TLS certificate and key files, or neither")
	}
	if cfg.MetricsAddr != "" && !isLoopback(cfg.MetricsAddr) {
		return ErrMetricsNotLoopback
	}
	return nil
}

// checkDB validates Config.DB, parsing a PostgreSQL URL without connecting.
func (cfg Config) checkDB() error {
	if cfg.Store != nil {
		return nil
	}
	kind, err := dbKind(cfg.DB)
	if err != nil {
		return err
	}
	if kind == "postgres" {
		if err := postgres.CheckDSN(cfg.DB); err != nil {
			return fmt.Errorf("server: bad PostgreSQL URL: %w", err)
		}
	}
	return nil
}

// dbKind classifies Config.DB without echoing it (it may hold a password).
func dbKind(db string) (string, error) {
	switch {
	case db == "", strings.HasPrefix(db, "sqlite:") && len(db) > len("sqlite:"):
		return "sqlite", nil
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return "postgres", nil
	}
	return "", ErrBadDB
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dataPath is a path inside the data dir, for error messages too.
func dataPath(cfg Config, elem ...string) string {
	return filepath.Join(append([]string{cfg.DataDir}, elem...)...)
}

// mkdirData creates the data dir with mode 0700.
func mkdirData(cfg Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: create data dir: %w", err)
	}
	return nil
}

// storeInDataDir reports whether New opens a SQLite store, which keeps at
// least its key store in the data dir; the dir must then exist first.
func (cfg Config) storeInDataDir() bool {
	kind, _ := dbKind(cfg.DB)
	return cfg.Store == nil && kind == "sqlite"
}
