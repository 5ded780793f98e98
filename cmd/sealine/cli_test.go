package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sealine/sealine/internal/testenv"
)

// These tests run the real binary, built once by TestMain, against a real
// `sealine serve` on a random port with its data in a temporary directory.

var binary string // path of the built sealine binary; set by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sealine-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sealine")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	password    = "correct horse battery staple"
	newPassword = "tr0ub4dor & 3"
)

// leaked reports whether out contains one of the test passwords.
func leaked(out string) bool {
	return strings.Contains(out, password) || strings.Contains(out, newPassword)
}

// result is one finished run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the binary with a clean environment (no SEALINE_* from the
// caller, HOME in a temporary directory).
type cli struct {
	t   *testing.T
	env []string
}

func newCLI(t *testing.T) *cli {
	env := []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	return &cli{t: t, env: env}
}

// run executes the binary with stdin and extra environment variables.
func (c *cli) run(stdin string, env []string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(append([]string(nil), c.env...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("run %v: %v", args, err)
	}
	if leaked(r.stdout + r.stderr) {
		c.t.Errorf("run %v: the password appears in the output", args)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		c.t.Errorf("run %v: stack trace on stderr:\n%s", args, r.stderr)
	}
	return r
}

// ok runs args and fails the test unless the exit code is 0.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, nil, args...)
	if r.code != 0 {
		c.t.Fatalf("sealine %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs args and checks a non-zero exit with want on stderr.
func (c *cli) fails(stdin string, env []string, want string, args ...string) result {
	c.t.Helper()
	r := c.run(stdin, env, args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		c.t.Errorf("sealine %v: exit %d, stderr %q; want failure with %q", args, r.code, r.stderr, want)
	}
	return r
}

// serve starts `sealine serve` on a free port and returns its URL (parsed
// from the start line on stdout) and data dir. The server is stopped at
// cleanup.
func serve(t *testing.T, extra ...string) (url, dataDir string) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"}, extra...)
	cmd := exec.Command(binary, args...)
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
	t.Cleanup(func() { stop(t, cmd, &logs) })
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		m := regexp.MustCompile(`listening on (https://\S+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("start line %q has no URL; stderr:\n%s", line, logs.String())
		}
		return m[1], dataDir
	case <-time.After(20 * time.Second):
		t.Fatalf("no start line after 20s; stderr:\n%s", logs.String())
	}
	return "", ""
}

// stop sends SIGTERM, waits briefly for a graceful exit, then kills.
func stop(t *testing.T, cmd *exec.Cmd, logs *bytes.Buffer) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve did not exit cleanly on SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("serve ignored SIGTERM for 10s")
	}
	if leaked(logs.String()) {
		t.Errorf("the password appears in the server log")
	}
}

// copyHome copies a client home (session and device key) to a new directory.
func copyHome(t *testing.T, home string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"session.json", "device.key"} {
		b, err := os.ReadFile(filepath.Join(home, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// watcher is a running `sealine devices watch`.
type watcher struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr bytes.Buffer
}

// startWatch starts `sealine devices watch` and waits until it says the
// stream is open. It is killed at cleanup if still running.
func startWatch(t *testing.T, args ...string) *watcher {
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
	w.expect(t, regexp.MustCompile(`^watching devices$`))
	return w
}

// expect waits up to 10 s for an output line matching re.
func (w *watcher) expect(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-w.lines:
			if !ok {
				t.Fatalf("watch ended before a line matching %v; stderr %q", re, w.stderr.String())
			}
			if re.MatchString(line) {
				return
			}
		case <-timeout:
			t.Fatalf("no watch line matching %v after 10s", re)
		}
	}
}

// wait waits up to 10 s for the watch to exit and returns its exit code.
func (w *watcher) wait(t *testing.T) (int, string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for range w.lines { // drain stdout until EOF, then reap
		}
		done <- w.cmd.Wait()
	}()
	select {
	case <-done:
		return w.cmd.ProcessState.ExitCode(), w.stderr.String()
	case <-time.After(10 * time.Second):
		t.Fatal("watch still running after 10s")
	}
	return 0, ""
}

var deviceID = regexp.MustCompile(`this device is (\S+)`)

// idFrom returns the device id that register or login printed.
func idFrom(t *testing.T, out string) string {
	t.Helper()
	m := deviceID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no device id in %q", out)
	}
	return m[1]
}

// TestRegisterLoginRevoke is the proof: two homes are two devices of
// one account; the second revokes the first, which is then refused.
func TestRegisterLoginRevoke(t *testing.T) { registerLoginRevoke(t) }

// TestRegisterLoginRevokePostgres runs the same with `serve --db postgres://`
// on a fresh schema of $SEALINE_TEST_POSTGRES (skipped when unset).
func TestRegisterLoginRevokePostgres(t *testing.T) {
	registerLoginRevoke(t, "--db", testenv.PostgresDSN(t))
}

func registerLoginRevoke(t *testing.T, serveArgs ...string) {
	url, dataDir := serve(t, serveArgs...)
	cert := filepath.Join(dataDir, "tls", "cert.pem")
	c := newCLI(t)
	homeA, homeB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	as := func(home string, args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", home}, args...)
	}

	c.fails(password+"\n", nil, "not trusted", "--server", url, "--home", homeA, "register", "alice", "--password-stdin")
	out := c.ok(password+"\n", as(homeA, "register", "alice", "--password-stdin", "--device-name", "laptop")...)
	idA := idFrom(t, out)
	// A copy of A's state, to show that the server itself refuses it later
	// (A's own client deletes its state as soon as it learns of the revocation).
	stolenA := copyHome(t, homeA)
	c.fails(password+"\n", nil, "username is taken", as(filepath.Join(t.TempDir(), "c"), "register", "Alice", "--password-stdin")...)
	c.fails(password+"\n", nil, "already logged in", as(homeA, "login", "alice", "--password-stdin")...)
	c.fails("wrong password\n", nil, "wrong username or password", as(homeB, "login", "alice", "--password-stdin")...)
	w := startWatch(t, as(homeA, "devices", "watch")...)
	idB := idFrom(t, c.ok(password+"\r\n", as(homeB, "login", "alice", "--password-stdin", "--device-name", "phone")...))
	w.expect(t, regexp.MustCompile(`device_added `+regexp.QuoteMeta(idB)+` phone$`))

	table := c.ok("", as(homeB, "devices")...)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s*ID\s+NAME\s+CREATED\s+LAST SEEN$`),
		regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(idA) + `\s+laptop\s`),
		regexp.MustCompile(`(?m)^\*\s+` + regexp.QuoteMeta(idB) + `\s+phone\s`),
	} {
		if !want.MatchString(table) {
			t.Errorf("devices table does not match %v:\n%s", want, table)
		}
	}
	// Environment variables work in place of the global flags; a flag wins.
	env := []string{"SEALINE_SERVER=" + url, "SEALINE_CA=" + cert, "SEALINE_HOME=" + homeB}
	if r := c.run("", env, "devices"); r.code != 0 {
		t.Errorf("devices with SEALINE_* env: exit %d: %s", r.code, r.stderr)
	}
	if r := c.run("", []string{"SEALINE_SERVER=http://bad"}, as(homeB, "devices")...); r.code != 0 {
		t.Errorf("--server did not win over SEALINE_SERVER: %s", r.stderr)
	}

	c.ok("", as(homeB, "devices", "revoke", idA)...)
	if code, stderr := w.wait(t); code != 1 || !strings.Contains(stderr, "no longer valid") {
		t.Errorf("watch of the revoked device: exit %d, stderr %q; want exit 1, session no longer valid", code, stderr)
	}
	c.fails("", nil, "not logged in", as(homeA, "devices")...)
	c.fails("", nil, "no longer valid", as(stolenA, "devices")...)
	c.fails("", nil, "not logged in", as(stolenA, "devices")...)
	c.fails("", nil, "no such device", as(homeB, "devices", "revoke", idA)...)

	// Changing the password logs every other device out.
	homeC := filepath.Join(t.TempDir(), "c")
	c.ok(password+"\n", as(homeC, "login", "alice", "--password-stdin", "--device-name", "tablet")...)
	c.fails("wrong\n"+newPassword+"\n", nil, "wrong username or password", as(homeB, "password", "--password-stdin")...)
	if out := c.ok(password+"\n"+newPassword+"\n", as(homeB, "password", "--password-stdin")...); !strings.Contains(out, "1 other device(s) logged out") {
		t.Errorf("password printed %q", out)
	}
	c.fails("", nil, "no longer valid", as(homeC, "devices")...)
	c.fails(password+"\n", nil, "wrong username or password", as(homeC, "login", "alice", "--password-stdin")...)
	idC := idFrom(t, c.ok(newPassword+"\n", as(homeC, "login", "alice", "--password-stdin")...))
	if out := c.ok("", as(homeC, "devices", "revoke", idC)...); !strings.Contains(out, "this device: logged out") {
		t.Errorf("revoking one's own device printed %q", out)
	}
	c.fails("", nil, "not logged in", as(homeC, "devices")...)
	// Ctrl-C ends a watch cleanly.
	wb := startWatch(t, as(homeB, "devices", "watch")...)
	if err := wb.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, stderr := wb.wait(t); code != 0 {
		t.Errorf("watch after SIGINT: exit %d, stderr %q; want 0", code, stderr)
	}
	if out := c.ok("", as(homeB, "logout")...); !strings.Contains(out, "logged out") {
		t.Errorf("logout printed %q", out)
	}
	c.fails("", nil, "not logged in", as(homeB, "devices")...)
}

// TestHostileArgs checks that bad command lines fail with a clear message
// and a non-zero exit, before any request is sent.
func TestHostileArgs(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // a home others can enter, whatever the umask
		t.Fatal(err)
	}
	home := []string{"--home", filepath.Join(dir, "home")}
	tests := []struct {
		name  string
		args  []string
		env   []string
		stdin string
		code  int
		want  string
	}{
		{"unknown flag", []string{"devices", "--bogus"}, nil, "", 2, "unknown flag: --bogus"},
		{"unknown command", []string{"frobnicate"}, nil, "", 2, "unknown command"},
		{"malformed server", []string{"--server", "https//nope", "login", "x", "--password-stdin"}, nil, "pw\n", 2, "malformed server URL"},
		{"plaintext server", []string{"--server", "http://127.0.0.1:8443", "devices"}, nil, "", 2, "must use https"},
		{"plaintext server env", []string{"devices"}, []string{"SEALINE_SERVER=http://127.0.0.1:8443"}, "", 2, "must use https"},
		{"missing ca", []string{"--ca", filepath.Join(dir, "missing.pem"), "devices"}, nil, "", 2, "no such file"},
		{"ca not pem", []string{"--ca", notPEM, "devices"}, nil, "", 2, "no PEM certificate"},
		{"register no user", []string{"register"}, nil, "", 2, "want 1 argument(s), got 0"},
		{"register two users", []string{"register", "a", "b"}, nil, "", 2, "want 1 argument(s), got 2"},
		{"logout extra", []string{"logout", "now"}, nil, "", 2, "want 0 argument(s), got 1"},
		{"password extra", []string{"password", "now"}, nil, "", 2, "want 0 argument(s), got 1"},
		{"password not logged in", []string{"password", "--password-stdin"}, nil, "a\nb\n", 1, "not logged in"},
		{"revoke no id", []string{"devices", "revoke"}, nil, "", 2, "want 1 argument(s), got 0"},
		{"revoke two ids", []string{"devices", "revoke", "a", "b"}, nil, "", 2, "want 1 argument(s), got 2"},
		{"no terminal", []string{"register", "bob"}, nil, "", 2, "--password-stdin"},
		{"empty stdin", []string{"register", "bob", "--password-stdin"}, nil, "", 1, "empty"},
		{"long password", []string{"login", "bob", "--password-stdin"}, nil, strings.Repeat("x", 2000) + "\n", 1, "longer than 1024"},
		{"not logged in", []string{"devices"}, nil, "", 1, "not logged in"},
		{"home open to others", []string{"--home", dir, "register", "bob", "--password-stdin"}, nil, "pw12345678\n", 1, "chmod 700"},
		{"server down", []string{"--server", "https://127.0.0.1:1", "login", "bob", "--password-stdin"}, nil, "pw\n", 1, "connection refused"},
		{"serve extra", []string{"serve", "now"}, nil, "", 2, "want 0 argument(s), got 1"},
		{"serve log level", []string{"serve", "--log-level", "loud"}, nil, "", 2, "--log-level"},
		{"serve bad db", []string{"serve", "--data-dir", filepath.Join(dir, "d1"), "--db", "mysql://x"}, nil, "", 1, "db must be"},
		{"serve public metrics", []string{"serve", "--data-dir", filepath.Join(dir, "d2"), "--metrics-addr", "0.0.0.0:9090"}, nil, "", 1, "loopback"},
		{"serve bad db env", []string{"serve", "--data-dir", filepath.Join(dir, "d4")}, []string{"SEALINE_DB=mysql://x"}, "", 1, "db must be"},
		{"serve bad log level env", []string{"serve"}, []string{"SEALINE_LOG_LEVEL=loud"}, "", 2, "--log-level"},
		{"serve half tls", []string{"serve", "--data-dir", filepath.Join(dir, "d3"), "--tls-cert", notPEM}, nil, "", 1, "TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			r := c.run(tt.stdin, tt.env, append(append([]string(nil), home...), tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d with %q", r.code, r.stderr, tt.code, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want empty", r.stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out := newCLI(t).ok("", "version")
	if !regexp.MustCompile(`^sealine \S+ commit \S+ go\S+\n$`).MatchString(out) {
		t.Errorf("version printed %q", out)
	}
	// Release builds set both through -ldflags.
	bin := filepath.Join(t.TempDir(), "sealine")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=v9.8.7 -X main.commit=abc123", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out2, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out2), "sealine v9.8.7 commit abc123 go") {
		t.Errorf("ldflags build printed %q, %v", out2, err)
	}
}

// TestHelpHidesEnv: --help shows built-in defaults, never environment
// values, which may hold a database password.
func TestHelpHidesEnv(t *testing.T) {
	r := newCLI(t).run("", []string{"SEALINE_DB=postgres://u:sekret@db/x", "SEALINE_SERVER=https://other.example"}, "serve", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "SEALINE_DB") {
		t.Fatalf("serve --help: exit %d, stdout %q", r.code, r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "sekret") || strings.Contains(r.stdout, "other.example") {
		t.Errorf("serve --help shows an environment value:\n%s", r.stdout)
	}
}
