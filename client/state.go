package client

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

const (
	sessionFile  = "session.json"
	deviceFile   = "device.key"
	stateVersion = 1
	maxStateSize = 64 << 10 // bound on what we read back from disk
)

// Session describes the device session held in the home directory. Token
// is the bearer secret; it is never printed by the CLI.
type Session struct {
	Version   int       `json:"version"`
	Server    string    `json:"server"`
	Username  string    `json:"username"`
	UserID    string    `json:"user_id"`
	DeviceID  string    `json:"device_id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// String describes the session without its token, so that printing or
// logging a Session never leaks the bearer secret.
func (s Session) String() string {
	return fmt.Sprintf("session{server=%s user=%s device=%s expires=%s token=[redacted]}",
		s.Server, s.UserID, s.DeviceID, s.ExpiresAt.UTC().Format(time.RFC3339))
}

// LogValue implements slog.LogValuer with the same redaction.
func (s Session) LogValue() slog.Value { return slog.StringValue(s.String()) }

// DefaultHome returns the per-user client state directory:
// $XDG_CONFIG_HOME/sealine, or the OS equivalent (~/.config/sealine).
func DefaultHome() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("client home: %w", err)
	}
	return filepath.Join(dir, "sealine"), nil
}

// home is the on-disk state of one client.
type home struct{ dir string }

// load reads the session and device key; ErrNotLoggedIn if there is none.
func (h home) load() (Session, ed25519.PrivateKey, error) {
	var s Session
	raw, err := h.read(sessionFile)
	if err != nil {
		return s, nil, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, nil, fmt.Errorf("read %s: %w", sessionFile, err)
	}
	if s.Version != stateVersion || s.Token == "" || s.DeviceID == "" {
		return s, nil, fmt.Errorf("read %s: unsupported or incomplete session", sessionFile)
	}
	raw, err = h.read(deviceFile)
	if err != nil {
		return s, nil, err
	}
	key, err := parseDeviceKey(raw)
	return s, key, err
}

// read returns a state file, refusing ones that other users can read.
func (h home) read(name string) ([]byte, error) {
	path := filepath.Join(h.dir, name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o, want 0600", ErrInsecureState, path, fi.Mode().Perm())
	}
	if fi.Size() > maxStateSize {
		return nil, fmt.Errorf("read state: %s is too large", path)
	}
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	return buf, nil
}

// exists reports whether a session file is present.
func (h home) exists() bool {
	_, err := os.Lstat(filepath.Join(h.dir, sessionFile))
	return err == nil
}

// save writes the device key, then the session, each atomically.
func (h home) save(s Session, key ed25519.PrivateKey) error {
	if err := h.mkdir(); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("save device key: %w", err)
	}
	if err := h.write(deviceFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return err
	}
	s.Version = stateVersion
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return h.write(sessionFile, append(raw, '\n'))
}

// clear deletes the session first (so a half-cleared home reads as logged
// out), then the device key.
func (h home) clear() error {
	for _, name := range []string{sessionFile, deviceFile} {
		err := os.Remove(filepath.Join(h.dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clear state: %w", err)
		}
	}
	return nil
}

// mkdir creates the home directory 0700 and refuses one others can enter.
func (h home) mkdir() error {
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return fmt.Errorf("client home: %w", err)
	}
	fi, err := os.Stat(h.dir)
	if err != nil {
		return fmt.Errorf("client home: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: home %s has mode %#o, want 0700 (chmod 700 it)", ErrInsecureState, h.dir, fi.Mode().Perm())
	}
	return nil
}

// write replaces name with data through a 0600 temporary file and rename.
func (h home) write(name string, data []byte) error {
	f, err := os.CreateTemp(h.dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("save %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(h.dir, name)); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	return nil
}

// parseDeviceKey decodes a PEM PKCS #8 Ed25519 private key.
func parseDeviceKey(raw []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(raw)
	if block == nil || block.Type != "PRIVATE KEY" || len(rest) != 0 {
		return nil, fmt.Errorf("read %s: not a PEM private key", deviceFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", deviceFile, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read %s: not an Ed25519 key", deviceFile)
	}
	return key, nil
}
