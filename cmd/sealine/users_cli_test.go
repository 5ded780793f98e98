package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestUsernamesCLI: bob never claims alice's or carol's KeyPackages (they
// start the conversations), yet after the first message or join reaches
// him his CLI names them, and "alice" names the direct conversation in
// read and send.
func TestUsernamesCLI(t *testing.T) {
	url, dataDir := serve(t)
	cert := filepath.Join(dataDir, "tls", "cert.pem")
	c := newCLI(t)
	homeA, homeB, homeC := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")
	as := func(home string, args ...string) []string {
		return append([]string{"--server", url, "--ca", cert, "--home", home}, args...)
	}
	for user, home := range map[string]string{"alice": homeA, "bob": homeB, "carol": homeC} {
		c.ok(password+"\n", as(home, "register", user, "--password-stdin")...)
	}
	sent := regexp.MustCompile(`sent to (\S+)`).FindStringSubmatch(c.ok("", as(homeA, "send", "@bob", "wren-basalt-1122 hi bob")...))
	if sent == nil {
		t.Fatal("alice's send printed no conversation")
	}
	conv := sent[1]

	steps := []struct {
		name string
		home string
		args []string
		want []string
	}{
		{"bob reads alice's first message by her name", homeB, []string{"read", "alice"},
			[]string{conv + " ", " alice: wren-basalt-1122 hi bob"}},
		{"alice sends again", homeA, []string{"send", "@bob", "finch-cobalt-3344 still there?"}, []string{"sent to " + conv}},
		{"bob reads it as JSON", homeB, []string{"read", "--json", "@alice"}, []string{`"sender":"alice"`, "finch-cobalt-3344"}},
		{"bob answers alice by name in the same conversation", homeB, []string{"send", "alice", "lark-onyx-5566 yes"}, []string{"sent to " + conv}},
		{"alice reads bob", homeA, []string{"read"}, []string{" bob: lark-onyx-5566 yes"}},
		{"bob lists @alice", homeB, []string{"conversations"}, []string{"@alice"}},
		{"carol adds bob to a group", homeC, []string{"group", "create", "owls", "bob"}, []string{"conversation "}},
		{"bob sees who added him", homeB, []string{"sync"}, []string{"joined (added by carol)"}},
	}
	for _, st := range steps {
		out := c.ok("", as(st.home, st.args...)...)
		for _, w := range st.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", st.name, w, out)
			}
		}
	}
}
