package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
	if r := c.run("", nil, admin("admin", "backup", backup, "--progress")...); r.code != 0 ||
		!strings.Contains(r.stdout, "backup written") || !strings.Contains(r.stderr, "100% pages") {
		t.Errorf("backup: exit %d, stdout %q, stderr %q; want the output and a progress bar", r.code, r.stdout, r.stderr)
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
	c.fails("", nil, "retention must be", admin("admin", "purge", "--retention", "blobs=forever")...)
	if out := c.ok("", "admin", "retention", "--retention", "blobs=7d"); !regexp.MustCompile(`(?m)^blobs\s+7d\s`).MatchString(out) {
		t.Errorf("retention printed %q", out)
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

// TestAdminRestoreCLI: a data backup taken before a withdrawal, restored
// with the server stopped, brings back the others but not the withdrawn
// user, whose rows the restore removes as their key is gone.
func TestAdminRestoreCLI(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t) // the client's session names the server's URL: keep it
	url, stopServer := serveAt(t, dataDir, addr)
	cert := filepath.Join(dataDir, "tls", "cert.pem")
	c := newCLI(t)
	as := func(home string, args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", home}, args...)
	}
	homeZ, homeY := filepath.Join(t.TempDir(), "z"), filepath.Join(t.TempDir(), "y")
	c.ok(password+"\n", as(homeZ, "register", "zed", "--password-stdin")...)
	c.ok(password+"\n", as(homeY, "register", "yan", "--password-stdin")...)
	backup := filepath.Join(t.TempDir(), "b.db")
	c.ok("", "admin", "backup", backup, "--data-dir", dataDir)
	c.ok(password+"\n", as(homeZ, "account", "delete", "--yes-delete-my-account", "zed", "--password-stdin")...)
	stopServer()
	out := c.ok("", "admin", "restore", backup, "--data-dir", dataDir)
	if !strings.Contains(out, "removed 1 account(s)") {
		t.Errorf("restore printed %q", out)
	}
	serveAt(t, dataDir, addr)
	c.ok("", as(homeY, "account", "export", "-")...)
	c.fails(password+"\n", nil, "wrong username or password", as(filepath.Join(t.TempDir(), "w"), "login", "zed", "--password-stdin")...)
}

// serveAt starts `sealine serve` on dataDir and returns its URL and a
// func that stops it (also run at cleanup).
func serveAt(t *testing.T, dataDir, addr string) (string, func()) {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	cmd.Env = newCLI(t).env
	var logs bytes.Buffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	halt := func() { once.Do(func() { stop(t, cmd, &logs) }) }
	t.Cleanup(halt)
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`listening on (https://\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start line %q; stderr:\n%s", line, logs.String())
	}
	return m[1], halt
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
