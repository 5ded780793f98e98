package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountLifecycleCLI: contact attributes, export, a backup taken while
// the server runs, the typed confirmation and the password of `account
// delete`, and the admin commands' refusals, all through the real binary.
func TestAccountLifecycleCLI(t *testing.T) {
	url, dataDir := serve(t)
	cert := filepath.Join(dataDir, "tls", "cert.pem")
	c := newCLI(t)
	home := filepath.Join(t.TempDir(), "h")
	as := func(args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", home}, args...)
	}
	c.ok(password+"\n", as("register", "zoe", "--password-stdin", "--device-name", "laptop")...)

	c.fails("", nil, "malformed phone number", as("account", "set-phone", "090-1234-5678")...)
	c.fails("", nil, "malformed phone number or email", as("account", "set-email", "zoe at example")...)
	if out := c.ok("", as("account", "set-phone", "+81 90-1234-5678")...); !strings.Contains(out, "+819012345678") {
		t.Errorf("set-phone printed %q", out)
	}
	c.ok("", as("account", "set-email", "Zoe@Example.ORG")...)
	c.ok("", as("account", "clear-phone")...)
	c.fails("", nil, "no such contact attribute", as("account", "clear-phone")...)

	export := filepath.Join(t.TempDir(), "export.json")
	c.ok("", as("account", "export", export)...)
	var x struct {
		Username, Email, Phone string
		Devices                []struct{ Name string }
	}
	raw, _ := os.ReadFile(export)
	if err := json.Unmarshal(raw, &x); err != nil || x.Username != "zoe" || x.Email != "zoe@example.org" ||
		x.Phone != "" || len(x.Devices) != 1 || x.Devices[0].Name != "laptop" {
		t.Fatalf("export = %s (%v)", raw, err)
	}
	if fi, _ := os.Stat(export); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	c.fails("", nil, "file exists", as("account", "export", export)...)

	admin := func(args ...string) []string { return append(args, "--data-dir", dataDir) }
	backup := filepath.Join(t.TempDir(), "b.db")
	if out := c.ok("", admin("admin", "backup", backup, "--progress")...); !strings.Contains(out, "backup written") {
		t.Errorf("backup printed %q", out)
	}
	c.fails("", nil, "no such file or directory", admin("admin", "backup", filepath.Join(t.TempDir(), "no", "dir", "b.db"))...)
	c.fails("", nil, "output file exists", admin("admin", "backup", backup)...)
	c.fails("", nil, "stop the server", admin("admin", "restore", backup)...)
	truncated := filepath.Join(t.TempDir(), "t.db")
	b, _ := os.ReadFile(backup)
	os.WriteFile(truncated, b[:len(b)/2], 0o600)
	c.fails("", nil, "not a usable backup", admin("admin", "restore", truncated)...)
	c.fails("", nil, "no Sealine database", "admin", "purge", "--data-dir", t.TempDir())
	c.fails("", nil, "KEK file", admin("admin", "rotate-kek", "--kek-file", filepath.Join(t.TempDir(), "none.key"))...)
	if out := c.ok("", admin("admin", "purge")...); !strings.Contains(out, "queued_messages: 0 deleted") {
		t.Errorf("purge printed %q", out)
	}

	// Withdrawal: the typed confirmation must match, then the password.
	c.fails("bob\n"+password+"\n", nil, "not the username of this account", as("account", "delete", "--password-stdin")...)
	c.fails("wrong password\n", nil, "wrong username or password", as("account", "delete", "--password-stdin", "--yes-delete-my-account", "zoe")...)
	c.ok("", as("account", "export", "-")...) // still there
	out := c.ok("Zoe\n"+password+"\n", as("account", "delete", "--password-stdin")...)
	if !strings.Contains(out, "account zoe deleted") {
		t.Errorf("delete printed %q", out)
	}
	c.fails("", nil, "not logged in", as("account", "export", "-")...)
	c.fails(password+"\n", nil, "wrong username or password", as("login", "zoe", "--password-stdin")...)
	c.fails(password+"\n", nil, "username is taken", as("register", "zoe", "--password-stdin")...)
}
