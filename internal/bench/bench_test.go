package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealine/sealine/internal/testenv"
)

// TestScenarios runs each scenario for about a second against the
// in-process server on SQLite and checks the report.
func TestScenarios(t *testing.T) { testScenarios(t, "") }

// TestScenariosPostgres does the same on PostgreSQL
// ($SEALINE_TEST_POSTGRES).
func TestScenariosPostgres(t *testing.T) { testScenarios(t, testenv.PostgresDSN(t)) }

func testScenarios(t *testing.T, db string) {
	cases := []struct {
		name  string
		cfg   Config
		extra bool // skipped with -short
		pprof bool // sets PprofDir to a temporary directory
	}{
		{"1to1", Config{Scenario: OneToOne, Pairs: 2, Rate: 100}, false, true},
		{"1to1-max", Config{Scenario: OneToOne, Pairs: 1, MaxRate: true, MaxMessages: 200}, true, false},
		{"1to1-in-flight", Config{Scenario: OneToOne, Pairs: 1, MaxRate: true, MaxMessages: 400, InFlight: 16}, false, false},
		{"1to1-fast", Config{Scenario: OneToOne, Pairs: 2, Rate: 400, FastClients: true}, false, false},
		{"group", Config{Scenario: Group, GroupSize: 4, Rate: 50}, false, false},
		{"group-fast", Config{Scenario: Group, GroupSize: 5, Rate: 200, FastClients: true}, true, false},
		{"churn", Config{Scenario: Churn, GroupSize: 3}, false, false},
		{"idle", Config{Scenario: Idle, Conns: 50}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.extra && testing.Short() {
				t.Skip("-short")
			}
			cfg := tc.cfg
			cfg.Duration, cfg.Drain, cfg.DB = time.Second, 3*time.Second, db
			if tc.pprof {
				cfg.PprofDir = filepath.Join(t.TempDir(), "profiles")
			}
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			rep.WriteTable(&buf)
			t.Logf("\n%s", buf.String())
			checkReport(t, cfg, rep)
			checkNotes(t, cfg, rep, buf.String())
			checkProfiles(t, cfg, rep)
		})
	}
}

func checkReport(t *testing.T, cfg Config, r *Report) {
	t.Helper()
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
	if r.Seconds <= 0 || r.Server.RSSBytes <= 0 || r.Server.CPUSeconds < 0 || r.Server.HeapBytes <= 0 {
		t.Errorf("seconds %v, server %+v", r.Seconds, r.Server)
	}
	if cfg.Scenario == Idle {
		if r.Streams != cfg.Conns || r.Server.HeapPerConn <= 0 {
			t.Errorf("streams %d of %d, heap per connection %v", r.Streams, cfg.Conns, r.Server.HeapPerConn)
		}
		return
	}
	if r.Accepted == 0 || r.Delivered != r.Expected || r.AcceptedPS <= 0 || r.DeliveredPS <= 0 {
		t.Errorf("accepted %d, delivered %d of %d, %v/s %v/s", r.Accepted, r.Delivered, r.Expected, r.AcceptedPS, r.DeliveredPS)
	}
	if l := r.Latency; l.Count != r.Delivered || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.Max > 10000 {
		t.Errorf("latency %+v", l)
	}
	if cfg.MaxMessages > 0 && r.Accepted > cfg.MaxMessages {
		t.Errorf("accepted %d > max %d", r.Accepted, cfg.MaxMessages)
	}
	if cfg.Scenario == Churn && (r.Commits == 0 || r.CommitLat == nil) {
		t.Errorf("commits %d", r.Commits)
	}
}

// checkNotes: a fast-clients run says so in its notes, in the table and
// in the JSON report; an SDK run does not.
func checkNotes(t *testing.T, cfg Config, r *Report, table string) {
	t.Helper()
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		FastClients bool     `json:"fast_clients"`
		Notes       []string `json:"notes"`
	}
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	says := map[string]bool{
		"notes": slices.Contains(r.Notes, fastNote),
		"table": strings.Contains(table, fastNote),
		"json":  decoded.FastClients && slices.Contains(decoded.Notes, fastNote),
	}
	for where, ok := range says {
		if ok != cfg.FastClients {
			t.Errorf("fast clients %v, but the fast-clients note in the %s: %v", cfg.FastClients, where, ok)
		}
	}
}

// checkProfiles: with PprofDir set, the run leaves non-empty CPU and
// heap profiles there and names them in the report.
func checkProfiles(t *testing.T, cfg Config, r *Report) {
	t.Helper()
	if cfg.PprofDir == "" {
		return
	}
	want := []string{filepath.Join(cfg.PprofDir, "cpu.pprof"), filepath.Join(cfg.PprofDir, "heap.pprof")}
	if !slices.Equal(r.Profiles, want) {
		t.Errorf("report names profiles %v, want %v", r.Profiles, want)
	}
	for _, p := range want {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v (size %d); want a non-empty file", p, err, size(fi))
		}
	}
}

func size(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}

// TestRemoteRefused checks that a non-loopback target is refused before
// any connection (192.0.2.1 is TEST-NET-1; nothing is sent there).
func TestRemoteRefused(t *testing.T) {
	for _, url := range []string{"https://192.0.2.1:8443", "https://[2001:db8::1]:443"} {
		_, err := Run(context.Background(), Config{Scenario: OneToOne, ServerURL: url})
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: got %v, want ErrNotLoopback", url, err)
		}
	}
}

func TestBadConfig(t *testing.T) {
	cases := []Config{
		{Scenario: "storm"},
		{Scenario: OneToOne, Rate: -1},
		{Scenario: OneToOne, Duration: -time.Second},
		{Scenario: OneToOne, MaxMessages: -1},
		{Scenario: Group, GroupSize: 1},
		{Scenario: Idle, FastClients: true},
		{Scenario: OneToOne, InFlight: -1},
		{Scenario: OneToOne, InFlight: 5000},
	}
	for _, cfg := range cases {
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: got %v, want ErrBadConfig", cfg, err)
		}
	}
}

func TestParseLine(t *testing.T) {
	cases := []struct {
		line string
		name string
		v    float64
		ok   bool
	}{
		{`sealine_heap_inuse_bytes{node="ab"} 1.5e+06`, "sealine_heap_inuse_bytes", 1.5e6, true},
		{`sealine_process_resident_memory_bytes 4096`, "sealine_process_resident_memory_bytes", 4096, true},
		{`sealine_goroutines{node="a}b"} 12 1700000000`, "sealine_goroutines", 12, true},
		{`# HELP sealine_goroutines Goroutines.`, "", 0, false},
		{`other_metric 3`, "", 0, false},
		{`sealine_goroutines{node="x"}`, "", 0, false},
	}
	for _, tc := range cases {
		name, v, ok := parseLine(tc.line)
		if name != tc.name && ok || v != tc.v || ok != tc.ok {
			t.Errorf("%q: got %q %v %v", tc.line, name, v, ok)
		}
	}
}

// TestClientDir: with ClientDir set, the clients' homes (their local
// stores) are made in a temp dir under it, apart from the server's data,
// the report says so, and nothing is left there afterwards.
func TestClientDir(t *testing.T) {
	clients := t.TempDir()
	cfg := Config{Scenario: OneToOne, Pairs: 1, Rate: 50, Duration: 500 * time.Millisecond, Drain: 3 * time.Second, ClientDir: clients}
	e, err := start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.newUser(context.Background(), 0, 1)
	if err != nil {
		e.close()
		t.Fatal(err)
	}
	home := filepath.Join(e.homes, "u0")
	if filepath.Dir(e.homes) != clients || strings.HasPrefix(home, e.dir) {
		t.Errorf("client home %s: want it under %s, apart from the server's %s", home, clients, e.dir)
	}
	if entries, err := os.ReadDir(home); err != nil || len(entries) == 0 {
		t.Errorf("client home %s: %v, %d entries; want the local store there", home, err, len(entries))
	}
	u.close()
	e.close()
	if left, _ := os.ReadDir(clients); len(left) != 0 {
		t.Errorf("left in the client dir after the run: %v", left)
	}

	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, cfg, rep)
	if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, clients) }) {
		t.Errorf("notes %q do not name the client dir", rep.Notes)
	}
	if left, _ := os.ReadDir(clients); len(left) != 0 {
		t.Errorf("left in the client dir after Run: %v", left)
	}
}
