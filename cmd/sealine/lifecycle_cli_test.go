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

// TestAdminRotatePurgeCLI: the success paths of `admin rotate-kek` (a
// progress bar, the counts, the retired KEK, and a running server that
// still reads every user) and `admin purge --progress` (a progress line,
// the counts on stdout, and a log line with counts only), through the
// real binary.
func TestAdminRotatePurgeCLI(t *testing.T) {
	url, dataDir := serve(t)
	cert := filepath.Join(dataDir, "tls", "cert.pem")
	c := newCLI(t)
	as := func(home string, args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", home}, args...)
	}
	users := []string{"zqrotana", "zqrotben", "zqrotcid"}
	homes := map[string]string{}
	for _, u := range users {
		homes[u] = filepath.Join(t.TempDir(), u)
		c.ok(password+"\n", as(homes[u], "register", u, "--password-stdin")...)
	}
	c.ok(password+"\n", as(homes["zqrotcid"], "account", "delete", "--yes-delete-my-account", "zqrotcid", "--password-stdin")...)

	// Two users' data keys and the blind-index key, one per batch.
	r := c.run("", nil, "admin", "rotate-kek", "--data-dir", dataDir, "--batch", "1", "--progress")
	m := regexp.MustCompile(`rewrapped (\d+) of (\d+) keys; the KEK is now (\S+)`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || m[1] != "3" || m[2] != "3" {
		t.Fatalf("rotate-kek: exit %d, stdout %q, stderr %q; want 3 of 3 keys rewrapped", r.code, r.stdout, r.stderr)
	}
	retired := regexp.MustCompile(`old KEK retired to (\S+):`).FindStringSubmatch(r.stdout)
	if retired == nil {
		t.Errorf("rotate-kek did not say where the old KEK went: %q", r.stdout)
	} else if _, err := os.Stat(retired[1]); err != nil {
		t.Errorf("retired KEK: %v", err)
	}
	for _, want := range []string{"\r[" + strings.Repeat("#", 10) + strings.Repeat(".", 20) + "]  33% keys rewrapped",
		"\r[" + strings.Repeat("#", 20) + strings.Repeat(".", 10) + "]  66% keys rewrapped",
		"\r[" + strings.Repeat("#", 30) + "] 100% keys rewrapped\n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("rotate-kek progress lacks %q: %q", want, r.stderr)
		}
	}
	if log := logLine(t, r.stderr, "KEK rotated"); log["rewrapped"] != 3.0 || log["keys"] != 3.0 || log["kek"] != m[3] {
		t.Errorf("rotate-kek logged %v", log)
	}
	// The running server reads every user with the new KEK.
	for _, u := range users[:2] {
		if out := c.ok("", as(homes[u], "account", "export", "-")...); !strings.Contains(out, `"`+u+`"`) {
			t.Errorf("export of %s after the rotation: %q", u, out)
		}
	}

	// The withdrawn name's quarantine is the one thing past its period.
	r = c.run("", nil, "admin", "purge", "--data-dir", dataDir, "--progress", "--retention", "withdrawn_usernames=1ns")
	if r.code != 0 || !strings.Contains(r.stdout, "withdrawn_usernames: 1 deleted") || !strings.Contains(r.stdout, "queued_messages: 0 deleted") {
		t.Fatalf("purge: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "purging withdrawn_usernames: 1 deleted") {
		t.Errorf("purge --progress drew no progress: %q", r.stderr)
	}
	log := logLine(t, r.stderr, "purge")
	for k, v := range log {
		_, count := v.(float64)
		if k != "time" && k != "level" && k != "msg" && !count {
			t.Errorf("the purge log line has %s=%v; want counts only: %v", k, v, log)
		}
	}
	if len(log) != 7 || log["withdrawn_usernames"] != 1.0 || log["queued_messages"] != 0.0 {
		t.Errorf("purge logged %v; want the four counts", log)
	}
	for _, u := range users {
		if strings.Contains(r.stderr+r.stdout, u) {
			t.Errorf("purge output names user %s", u)
		}
	}
	// The quarantine is gone: the name can be registered again.
	c.ok(password+"\n", as(filepath.Join(t.TempDir(), "again"), "register", "zqrotcid", "--password-stdin")...)
}

// logLine returns the JSON log line with msg in stderr (where progress
// lines may share a line, separated by \r).
func logLine(t *testing.T, stderr, msg string) map[string]any {
	t.Helper()
	for _, line := range strings.FieldsFunc(stderr, func(r rune) bool { return r == '\n' || r == '\r' }) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			return m
		}
	}
	t.Fatalf("no log line with msg %q in %q", msg, stderr)
	return nil
}
