package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Report is the result of one run; its JSON form is what --json prints.
type Report struct {
	Scenario    string           `json:"scenario"`
	Target      string           `json:"target"` // "in-process" or the server URL
	Store       string           `json:"store"`  // sqlite, postgres or remote
	FastClients bool             `json:"fast_clients"`
	Notes       []string         `json:"notes,omitempty"`
	Seconds     float64          `json:"seconds"` // measured phase
	SetupSecs   float64          `json:"setup_seconds"`
	Clients     int              `json:"clients"`
	GroupSize   int              `json:"group_size,omitempty"`
	TargetRate  float64          `json:"target_rate"` // messages/s; 0 = max
	Accepted    int64            `json:"accepted"`    // messages the server stored
	Expected    int64            `json:"expected"`    // deliveries due: accepted x recipients
	Delivered   int64            `json:"delivered"`   // deliveries received
	AcceptedPS  float64          `json:"accepted_per_second"`
	DeliveredPS float64          `json:"delivered_per_second"`
	Latency     Latency          `json:"latency"`
	Commits     int64            `json:"commits,omitempty"`
	CommitsPS   float64          `json:"commits_per_second,omitempty"`
	CommitLat   *Latency         `json:"commit_latency,omitempty"`
	Streams     int              `json:"streams,omitempty"`
	Errors      map[string]int64 `json:"errors"`
	Server      ServerStats      `json:"server"`
	Machine     Machine          `json:"machine"`
	Profiles    []string         `json:"profiles,omitempty"`
}

// Latency summarises end-to-end latencies in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// ServerStats are read from the server's Prometheus metrics.
type ServerStats struct {
	Source      string  `json:"source"` // metrics URL, or why there are none
	CPUSeconds  float64 `json:"cpu_seconds"`
	RSSBytes    float64 `json:"rss_bytes"`
	HeapBytes   float64 `json:"heap_inuse_bytes"`
	Goroutines  float64 `json:"goroutines"`
	Conns       int     `json:"connections"`
	HeapPerConn float64 `json:"heap_per_connection_bytes"`
	RSSPerConn  float64 `json:"rss_per_connection_bytes"`
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

func thisMachine() Machine {
	return Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
}

// recorder collects latencies, counts and errors; safe for concurrent use.
type recorder struct {
	mu        sync.Mutex
	lat       []time.Duration
	commitLat []time.Duration
	errs      map[string]int64
	accepted  int64
	delivered int64
	expected  int64
	commits   int64
	start     time.Time // measured phase
	sendEnd   time.Time
	lastDeliv time.Time
	streams   int64 // idle streams open
}

func (r *recorder) begin() {
	r.mu.Lock()
	r.start = time.Now()
	r.mu.Unlock()
}

func (r *recorder) endSend() {
	r.mu.Lock()
	r.sendEnd = time.Now()
	r.mu.Unlock()
}

func newRecorder() *recorder { return &recorder{errs: map[string]int64{}} }

func (r *recorder) accept(fanout int) {
	r.mu.Lock()
	r.accepted++
	r.expected += int64(fanout)
	r.mu.Unlock()
}

func (r *recorder) deliver(d time.Duration) {
	r.mu.Lock()
	r.delivered++
	r.lat = append(r.lat, d)
	r.lastDeliv = time.Now()
	r.mu.Unlock()
}

func (r *recorder) commit(d time.Duration) {
	r.mu.Lock()
	r.commits++
	r.commitLat = append(r.commitLat, d)
	r.mu.Unlock()
}

func (r *recorder) fail(err error) {
	reason := reasonOf(err)
	r.mu.Lock()
	r.errs[reason]++
	r.mu.Unlock()
}

func (r *recorder) counts() (accepted, delivered, expected int64, errs int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.errs {
		errs += n
	}
	return r.accepted, r.delivered, r.expected, errs
}

func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 { return ms(s[min(len(s)-1, int(p*float64(len(s))))]) }
	return Latency{Count: int64(len(s)), P50: q(.50), P90: q(.90), P99: q(.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as a readable table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	row("scenario", "%s", r.Scenario)
	row("target", "%s (store: %s)", r.Target, r.Store)
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	row("measured", "%.1f s (setup %.1f s), %d clients", r.Seconds, r.SetupSecs, r.Clients)
	if r.Scenario == Idle {
		row("streams held", "%d", r.Streams)
	} else {
		rate := "max"
		if r.TargetRate > 0 {
			rate = fmt.Sprintf("%.0f msg/s", r.TargetRate)
		}
		row("target rate", "%s", rate)
		row("accepted", "%d (%.0f msg/s)", r.Accepted, r.AcceptedPS)
		row("delivered", "%d of %d (%.0f msg/s)", r.Delivered, r.Expected, r.DeliveredPS)
		l := r.Latency
		row("latency", "p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms", l.P50, l.P90, l.P99, l.Max)
	}
	if r.CommitLat != nil {
		c := r.CommitLat
		row("commits", "%d (%.1f/s), p50 %.1f ms p99 %.1f ms", r.Commits, r.CommitsPS, c.P50, c.P99)
	}
	row("errors", "%s", formatErrors(r.Errors))
	s := r.Server
	row("server", "%s", s.Source)
	if s.RSSBytes > 0 {
		row("server cpu", "%.2f s (%.2f cores)", s.CPUSeconds, s.CPUSeconds/max(r.Seconds, 1e-9))
		row("server memory", "RSS %s, heap %s, %.0f goroutines", mib(s.RSSBytes), mib(s.HeapBytes), s.Goroutines)
		row("per connection", "heap %s, RSS %s (%d connections)", kib(s.HeapPerConn), kib(s.RSSPerConn), s.Conns)
	}
	row("machine", "%d CPUs, %s, %s", r.Machine.CPUs, r.Machine.GoVersion, r.Machine.OS)
	for _, p := range r.Profiles {
		row("profile", "%s", p)
	}
	return tw.Flush()
}

func formatErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }
