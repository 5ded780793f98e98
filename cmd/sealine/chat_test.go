package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestChatSendReadCLI is the CLI proof: the real binary in two homes
// against a real server. Both register (which publishes their KeyPackages),
// alice sends, bob reads (text and JSON), both chat with piped stdin, bob
// follows new messages until interrupted, and bad arguments fail clearly.
func TestChatSendReadCLI(t *testing.T) {
	url, dataDir := serve(t)
	cert := filepath.Join(dataDir, "tls", "cert.pem")
	c := newCLI(t)
	homeA, homeB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	alice := func(args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", homeA}, args...)
	}
	bob := func(args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", homeB}, args...)
	}
	for _, reg := range [][]string{alice("register", "alice", "--password-stdin"), bob("register", "bob", "--password-stdin")} {
		if r := c.run(password+"\n", nil, reg...); r.code != 0 || r.stderr != "" {
			t.Fatalf("sealine %v: exit %d, stderr %q", reg, r.code, r.stderr)
		}
	}

	out := c.ok("", alice("send", "bob", "kestrel-1 hello bob")...)
	m := regexp.MustCompile(`^sent to (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("send printed %q", out)
	}
	conv := m[1]
	if out = c.ok("", bob("read")...); !regexp.MustCompile(`(?m)^` + conv + ` \S+ \S+ \S+: kestrel-1 hello bob$`).MatchString(out) {
		t.Errorf("bob's read:\n%s", out)
	}
	if out = c.ok("", bob("read")...); out != "" {
		t.Errorf("a second read printed %q, want nothing new", out)
	}

	// Piped chat: history first, each line sent, /members answered, exit at EOF.
	out = c.ok("plover-2 hi alice\n\n/members\nplover-3 and again\n", bob("chat", "alice")...)
	for _, want := range []string{"chat with @alice (conversation " + conv + ")", "alice: kestrel-1 hello bob", "  alice (1 device(s))", "  me (1 device(s))"} {
		if !strings.Contains(out, want) {
			t.Errorf("bob's chat output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, chatPrompt) {
		t.Errorf("chat without a terminal printed the prompt:\n%s", out)
	}
	msgs := readJSON(t, c.ok("", alice("read", "--json")...))
	if len(msgs) != 2 || msgs[0].Text != "plover-2 hi alice" || msgs[1].Text != "plover-3 and again" {
		t.Fatalf("alice's read --json: %+v", msgs)
	}
	if got := msgs[0]; got.Conversation != conv || got.Sender != "bob" || got.Kind != "text" || got.Time.IsZero() || len(got.ID) != 32 {
		t.Errorf("alice's read --json: %+v", got)
	}

	// A group, chatted in by its name; read of one conversation only.
	out = c.ok("", alice("group", "create", "birds", "bob")...)
	group := regexp.MustCompile(`conversation (\S+)`).FindStringSubmatch(out)
	if group == nil {
		t.Fatalf("group create printed %q", out)
	}
	c.ok("", alice("send", "@bob", "tern-4 direct")...)
	c.ok("heron-5 to the flock\n/quit\nnever sent\n", alice("chat", "birds")...)
	if msgs = readJSON(t, c.ok("", bob("read", "--json", "birds")...)); len(msgs) != 1 || msgs[0].Text != "heron-5 to the flock" || msgs[0].Conversation != group[1] {
		t.Errorf("bob's read --json birds: %+v", msgs)
	}
	if out = c.ok("", bob("history", "@alice")...); !strings.Contains(out, "tern-4 direct") {
		t.Errorf("bob's history @alice:\n%s", out)
	}

	// read --follow prints new messages as they arrive, until Ctrl-C.
	w := startFollow(t, bob("read", "--follow", "@alice")...)
	c.ok("", alice("send", "bob", "swift-6 live")...)
	w.expect(t, regexp.MustCompile(`alice: swift-6 live$`))
	// While the follow holds bob's home, another process on it is refused
	// with a hint, and the follow is undisturbed.
	c.fails("", nil, "has this --home open", bob("read")...)
	c.ok("", alice("send", "bob", "swift-7 still live")...)
	w.expect(t, regexp.MustCompile(`alice: swift-7 still live$`))
	if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, stderr := w.wait(t); code != 0 {
		t.Errorf("read --follow after SIGINT: exit %d, stderr %q", code, stderr)
	}
	for _, home := range []string{homeA, homeB, dataDir} {
		assertNoPlaintext(t, home, "kestrel-1", "plover-2", "heron-5", "swift-6", "swift-7")
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{bob("read", "nosuchconv"), 1, "no such conversation: nosuchconv"},
		{bob("read", "a", "b"), 2, "want at most 1 argument, got 2"},
		{bob("send", "alice", " "), 2, "empty message"},
		{bob("send", "alice"), 2, "want a conversation and a message"},
		{bob("send", "nobody", "hi"), 1, "no such user"},
		{bob("chat"), 2, "want 1 argument(s), got 0"},
		{bob("chat", "alice", "bob"), 2, "want 1 argument(s), got 2"},
		{bob("chat", "nobody"), 1, "no such user"},
		{bob("history", "nosuchconv"), 1, "no such conversation"},
	} {
		if r := c.run("", nil, tt.args...); r.code != tt.code || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("sealine %v: exit %d, stdout %q, stderr %q; want exit %d with %q", tt.args[6:], r.code, r.stdout, r.stderr, tt.code, tt.want)
		}
	}
}

// readJSON parses the lines of `read --json`.
func readJSON(t *testing.T, out string) []jsonMessage {
	t.Helper()
	var msgs []jsonMessage
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m jsonMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("read --json line %q: %v", sc.Text(), err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// startFollow starts `read --follow`, which prints nothing until a message
// arrives (one sent before its stream opens is queued and printed all the
// same). It is killed at cleanup if still running.
func startFollow(t *testing.T, args ...string) *watcher {
	t.Helper()
	w := &watcher{cmd: exec.Command(binary, args...), lines: make(chan string, 16)}
	w.cmd.Env = newCLI(t).env
	w.cmd.Stderr = &w.stderr
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.cmd.Process.Kill() })
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	return w
}
