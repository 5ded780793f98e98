package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestBenchJSON runs the real binary's 1:1 scenario for a second against
// its in-process server and checks the JSON report.
func TestBenchJSON(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "bench", "1to1", "--duration", "1s", "--pairs", "1", "--rate", "50", "--json")
	var rep struct {
		Scenario  string           `json:"scenario"`
		Accepted  int64            `json:"accepted"`
		Delivered int64            `json:"delivered"`
		Errors    map[string]int64 `json:"errors"`
		Latency   struct {
			P99 float64 `json:"p99_ms"`
		} `json:"latency"`
		Server struct {
			RSS float64 `json:"rss_bytes"`
		} `json:"server"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if rep.Scenario != "1to1" || rep.Accepted == 0 || rep.Delivered != rep.Accepted || len(rep.Errors) != 0 ||
		rep.Latency.P99 <= 0 || rep.Server.RSS <= 0 {
		t.Errorf("report: %s", out)
	}
}

// TestBenchRefuses checks refusals that must happen before any traffic:
// a non-loopback target (192.0.2.1 and 2001:db8::1 are documentation
// addresses; nothing is sent to them), and bad arguments.
func TestBenchRefuses(t *testing.T) {
	c := newCLI(t)
	cases := []struct {
		want string
		args []string
	}{
		{"not a loopback address", []string{"bench", "1to1", "--server", "https://192.0.2.1:8443"}},
		{"not a loopback address", []string{"bench", "idle", "--server", "https://[2001:db8::1]"}},
		{"nothing listens", []string{"bench", "1to1", "--server", "https://127.0.0.1:1"}},
		{`unknown scenario "storm"`, []string{"bench", "storm"}},
		{"--rate", []string{"bench", "1to1", "--rate", "-5"}},
		{"--rate", []string{"bench", "1to1", "--rate", "fast"}},
		{"--duration must be positive", []string{"bench", "1to1", "--duration", "0"}},
		{"max-messages", []string{"bench", "1to1", "--max-messages", "-1"}},
		{"group-size", []string{"bench", "group", "--group-size", "1"}},
		{"in-flight must be 1..1024", []string{"bench", "1to1", "--in-flight", "-1"}},
		{"in-flight must be 1..1024", []string{"bench", "1to1", "--in-flight", "100000"}},
		{"invalid argument", []string{"bench", "1to1", "--in-flight", "many"}},
		{"want 1 argument", []string{"bench"}},
		{"client dir", []string{"bench", "1to1", "--client-dir", filepath.Join(t.TempDir(), "missing", "dir")}},
	}
	for _, tc := range cases {
		c.fails("", nil, tc.want, tc.args...)
	}
}
