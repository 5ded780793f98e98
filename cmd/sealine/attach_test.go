package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sealine/sealine/client"
	"github.com/sealine/sealine/internal/testenv"
)

// attachUser is a user whose client state lives in home, for the CLI.
type attachUser struct {
	t    *testing.T
	env  *testenv.Env
	home string
	ca   string
}

// newAttachUser registers user through the SDK in a fresh home and
// publishes its KeyPackages, so that others can start conversations.
func newAttachUser(t *testing.T, env *testenv.Env, ca, user string) *attachUser {
	t.Helper()
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{ServerURL: env.URL, CAPEM: env.Server.CertPEM(), Home: home})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, client.RegisterParams{Username: user, Password: password, DeviceName: "laptop"}); err != nil {
		t.Fatal(err)
	}
	m, err := c.Messenger(client.MessengerConfig{KeyPackages: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.TopUpKeyPackages(ctx); err != nil {
		t.Fatal(err)
	}
	return &attachUser{t: t, env: env, home: home, ca: ca}
}

// createGroup creates a group of u with the given users, through the SDK.
func (u *attachUser) createGroup(name string, users ...string) string {
	u.t.Helper()
	c, err := client.New(client.Config{ServerURL: u.env.URL, CAPEM: u.env.Server.CertPEM(), Home: u.home})
	if err != nil {
		u.t.Fatal(err)
	}
	m, err := c.Messenger(client.MessengerConfig{})
	if err != nil {
		u.t.Fatal(err)
	}
	defer m.Close()
	id, err := m.CreateGroup(context.Background(), name, users...)
	if err != nil {
		u.t.Fatal(err)
	}
	return id
}

// run executes `sealine attach args...` in process as u.
func (u *attachUser) run(args ...string) result {
	u.t.Helper()
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"SEALINE_SERVER": u.env.URL, "SEALINE_CA": u.ca, "SEALINE_HOME": u.home}
	a := newApp(strings.NewReader(""), &stdout, &stderr, func(k string) string { return vars[k] })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := executeWithAttach(ctx, a, append([]string{"attach"}, args...))
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// executeWithAttach is execute with the attach command in the tree.
func executeWithAttach(ctx context.Context, a *app, args []string) int {
	root := newRootCmd(a)
	if cmd, _, err := root.Find([]string{"attach"}); err != nil || cmd == root {
		root.AddCommand(newAttachCmd(a))
	}
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		a.stderr.Write([]byte("sealine: " + err.Error() + "\n"))
		if _, ok := err.(usageError); ok {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

func TestAttachSendGet(t *testing.T) {
	env := testenv.New(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, env.Server.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	alice, bob := newAttachUser(t, env, ca, "alice"), newAttachUser(t, env, ca, "bob")
	dir := t.TempDir()
	file := filepath.Join(dir, "plan.pdf")
	content := bytes.Repeat([]byte("ATTACH-CLI-MARKER "), 200_000) // 3.4 MiB
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}

	r := alice.run("send", "bob", file)
	id := regexp.MustCompile(`^sent plan\.pdf \(3\.4 MiB\) as message ([0-9a-f]{32})\n$`).FindStringSubmatch(r.stdout)
	if r.code != 0 || id == nil || !strings.HasPrefix(r.stderr, "sending plan.pdf: 3.4 MiB in ") {
		t.Fatalf("attach send: exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
	}

	out := filepath.Join(dir, "got.pdf")
	r = bob.run("get", id[1], out)
	if r.code != 0 || !strings.Contains(r.stdout, `saved "plan.pdf" (3.4 MiB, application/pdf) from `) ||
		!strings.HasPrefix(r.stderr, "receiving plan.pdf: 3.4 MiB in ") {
		t.Fatalf("attach get: exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("saved file differs (%v)", err)
	}

	// A group by name, and a peer as "@USER".
	team := alice.createGroup("team", "bob")
	small := filepath.Join(dir, "notes.txt")
	os.WriteFile(small, []byte("group notes"), 0o600)
	for _, target := range []string{"team", team, "@bob"} {
		if r := alice.run("send", target, small); r.code != 0 {
			t.Fatalf("attach send %s: exit %d, stderr %q", target, r.code, r.stderr)
		}
	}
	r = bob.run("list")
	t.Logf("attach list:\n%s", r.stdout)
	if r.code != 0 || strings.Count(r.stdout, "notes.txt") != 3 || !strings.Contains(r.stdout, id[1]) ||
		strings.Count(r.stdout, team) != 2 || !strings.Contains(r.stdout, "11 B") {
		t.Fatalf("attach list: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := bob.run("list", team); strings.Count(r.stdout, "notes.txt") != 2 || strings.Contains(r.stdout, "plan.pdf") {
		t.Fatalf("attach list %s:\n%s", team, r.stdout)
	}

	refusals := []struct {
		name string
		user *attachUser
		args []string
		code int
		want string
	}{
		{"existing OUT", bob, []string{"get", id[1][:8], out}, exitUsage, "already exists"},
		{"unknown id", bob, []string{"get", "deadbeef", filepath.Join(dir, "x")}, exitError, "no attachment message deadbeef"},
		{"malformed id", bob, []string{"get", "xyz", filepath.Join(dir, "x")}, exitUsage, "not a message id"},
		{"missing file", alice, []string{"send", "bob", filepath.Join(dir, "nope")}, exitUsage, "no such file"},
		{"directory", alice, []string{"send", "bob", dir}, exitUsage, "not a regular file"},
		{"unknown peer", alice, []string{"send", "nobody", file}, exitError, "nobody"},
		{"missing argument", alice, []string{"send", "bob"}, exitUsage, "want 2 argument(s)"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if r := tt.user.run(tt.args...); r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}

	t.Run("tampered blob", func(t *testing.T) {
		flipBlobBit(t, env)
		bad := filepath.Join(dir, "bad.pdf")
		if r := bob.run("get", id[1], bad); r.code != exitError || !strings.Contains(r.stderr, "failed authentication") {
			t.Fatalf("exit %d, stderr %q; want an authentication failure", r.code, r.stderr)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "plan.pdf" && e.Name() != "got.pdf" && e.Name() != "notes.txt" {
				t.Errorf("a failed get left %s behind", e.Name())
			}
		}
	})
}

// flipBlobBit flips one bit in the middle of every stored blob.
func flipBlobBit(t *testing.T, env *testenv.Env) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(env.DataDir, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b[len(b)/2] ^= 1
		return os.WriteFile(path, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAttachProgress(t *testing.T) {
	var buf bytes.Buffer
	p := &attachProgress{w: &buf, tty: true, label: "sending a.bin", size: 3 << 20, shown: -1}
	for _, done := range []int64{0, 1, 1 << 20, 1<<20 + 1, 3 << 20} {
		p.update(done, 3<<20)
	}
	p.finish(nil)
	want := "\rsending a.bin:   0% of 3.0 MiB\rsending a.bin:  33% of 3.0 MiB\rsending a.bin: 100% of 3.0 MiB\n"
	if buf.String() != want {
		t.Fatalf("terminal progress = %q, want %q", buf.String(), want)
	}
	buf.Reset()
	p = &attachProgress{w: &buf, label: "sending a.bin", size: 3 << 20, start: time.Now(), shown: -1}
	p.update(1<<20, 3<<20)
	p.finish(nil)
	if !regexp.MustCompile(`^sending a\.bin: 3\.0 MiB in \S+ \(\S+ \S+/s\)\n$`).MatchString(buf.String()) {
		t.Fatalf("summary = %q", buf.String())
	}
}

func TestSizeIEC(t *testing.T) {
	tests := map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 50 << 20: "50.0 MiB", 3 << 40: "3.0 TiB"}
	for n, want := range tests {
		if got := sizeIEC(n); got != want {
			t.Errorf("sizeIEC(%d) = %q, want %q", n, got, want)
		}
	}
}
