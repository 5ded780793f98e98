package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMessagingCLI runs two users' CLIs against a real server: a direct
// conversation both ways, a group, history from the encrypted local store
// (one of them behind SEALINE_PASSPHRASE), and no plaintext in either home.
func TestMessagingCLI(t *testing.T) {
	url, dataDir := serve(t)
	cert := filepath.Join(dataDir, "tls", "cert.pem")
	c := newCLI(t)
	homeA, homeB, homeC := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")
	as := func(home string, args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", home}, args...)
	}
	bobEnv := []string{"SEALINE_PASSPHRASE=bob's local passphrase"}
	runOK := func(env []string, args ...string) string {
		t.Helper()
		r := c.run("", env, args...)
		if r.code != 0 {
			t.Fatalf("sealine %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	c.ok(password+"\n", as(homeA, "register", "alice", "--password-stdin")...)
	if r := c.run(password+"\n", bobEnv, as(homeB, "register", "bob", "--password-stdin")...); r.code != 0 {
		t.Fatalf("register bob: exit %d: %s", r.code, r.stderr) // the passphrase is set from the start
	}
	c.ok(password+"\n", as(homeC, "register", "carol", "--password-stdin")...)
	// register published the KeyPackages: alice can open a chat with bob at once.
	out := c.ok("", as(homeA, "chat", "bob")...)
	conv := regexp.MustCompile(`chat with @bob \(conversation (\S+)\)`).FindStringSubmatch(out)
	if conv == nil {
		t.Fatalf("chat output %q", out)
	}
	c.ok("", as(homeA, "send", "@bob", "gannet-ledger-5521 hello bob")...)
	out = runOK(bobEnv, as(homeB, "sync")...)
	if !strings.Contains(out, "joined") || !strings.Contains(out, "gannet-ledger-5521 hello bob") {
		t.Errorf("bob's sync:\n%s", out)
	}
	runOK(bobEnv, as(homeB, "send", conv[1], "osprey-walnut-0934 hi alice")...)
	if out = c.ok("", as(homeA, "sync")...); !strings.Contains(out, "bob: osprey-walnut-0934 hi alice") {
		t.Errorf("alice's sync:\n%s", out)
	}
	c.fails("", nil, "protected by a passphrase", as(homeB, "history", conv[1])...) // SEALINE_PASSPHRASE missing
	out = runOK(bobEnv, as(homeB, "history", conv[1])...)
	if !strings.Contains(out, "me: osprey-walnut-0934") || !strings.Contains(out, "gannet-ledger-5521") {
		t.Errorf("bob's history:\n%s", out)
	}

	out = c.ok("", as(homeA, "group", "create", "birds", "bob", "carol")...)
	group := regexp.MustCompile(`conversation (\S+)`).FindStringSubmatch(out)
	if group == nil {
		t.Fatalf("group create output %q", out)
	}
	c.ok("", as(homeA, "send", group[1], "heron-quartz-7788 to the flock")...)
	if out = c.ok("", as(homeC, "sync")...); !strings.Contains(out, "heron-quartz-7788 to the flock") || !strings.Contains(out, `named "birds"`) {
		t.Errorf("carol's sync:\n%s", out)
	}
	if out = c.ok("", as(homeC, "conversations")...); !strings.Contains(out, group[1]) {
		t.Errorf("carol's conversations:\n%s", out)
	}
	for _, home := range []string{homeA, homeB, homeC, dataDir} {
		assertNoPlaintext(t, home, "gannet-ledger-5521", "osprey-walnut-0934", "heron-quartz-7788")
	}
}

// assertNoPlaintext fails if a file under dir holds one of words.
func assertNoPlaintext(t *testing.T, dir string, words ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				t.Errorf("%s holds %q in plaintext", path, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
