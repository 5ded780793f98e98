// Package bench is the engine of `sealine bench`: a bounded load generator
// that drives a Sealine server through the real client SDK (MLS
// encryption, TLS 1.3, HTTP/2) and reports throughput, end-to-end latency,
// errors by reason and the server's CPU and memory.
//
// Scenarios:
//
//	1to1   pairs of users in direct conversations send to each other at an
//	       open-loop rate (or as fast as they can)
//	group  K-member groups; one member of each sends, the server fans out
//	churn  members are added to and removed from a group (MLS commits),
//	       with a message after each change
//	idle   many subscribed streams, each on its own TLS connection, held open
//
// Every message's text starts with the time it was due to be sent (Unix
// nanoseconds, open-loop), so latency is measured from inside the
// encrypted payload and includes any queueing at the sender.
//
// Safety: a run never targets anything but loopback unless AllowRemote is
// set; the check resolves the host and happens before any connection.
// Every run is bounded by Duration, MaxMessages and SetupTimeout.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Scenario names.
const (
	OneToOne = "1to1"
	Group    = "group"
	Idle     = "idle"
	Churn    = "churn"
)

// Scenarios lists the scenario names.
var scenarioNames = []string{OneToOne, Group, Idle, Churn}

// Config describes one run. Zero values get defaults (see withDefaults),
// except Scenario.
type Config struct {
	Scenario string
	// ServerURL is the target; "" starts a server in-process on a loopback
	// port with a temporary data dir.
	ServerURL string
	// AllowRemote permits a ServerURL whose host is not loopback.
	AllowRemote bool
	// CAPEM is the certificate to trust for ServerURL.
	CAPEM []byte
	// MetricsURL is a remote server's Prometheus /metrics URL; "" = none.
	MetricsURL string
	// DB is the in-process server's store: "" = SQLite in the temp dir, or
	// a postgres:// URL.
	DB string
	// Rate is the target send rate in messages/s; MaxRate sends as fast
	// as the clients can instead.
	Rate    float64
	MaxRate bool
	// Duration bounds the measured phase; 0 = 30 s.
	Duration time.Duration
	// MaxMessages stops sending after this many messages; 0 = no bound.
	MaxMessages int64
	// Pairs is the number of 1:1 pairs; 0 = 4.
	Pairs int
	// GroupSize and Groups shape the group and churn scenarios; 0 = 8, 1.
	GroupSize, Groups int
	// Conns is the number of idle streams; 0 = 1000.
	Conns int
	// Size is the message text size in bytes; 0 = 100.
	Size int
	// InFlight is how many sends each sender keeps going at once; 0 = 1
	// for SDK clients (one Send at a time per device) and 32 for fast
	// clients. The SDK sends concurrent Sends of a device together.
	InFlight int
	// FastClients replays pre-encrypted MLS messages and counts deliveries
	// without decrypting, to push the server harder.
	FastClients bool
	// ClientDir is where the bench clients' homes (their local SQLite
	// stores) go, in a temporary directory removed afterwards; "" = next to
	// the in-process server's data. Real devices write to their own disks:
	// a memory-backed ClientDir (/dev/shm) keeps many clients' fsyncs from
	// queueing on the server's disk while the server's data stays on it.
	ClientDir string
	// PprofDir, when set, receives cpu.pprof and heap.pprof of this process.
	PprofDir string
	// SetupTimeout bounds registering users and opening connections; 0 = 5 min.
	SetupTimeout time.Duration
	// Drain is how long to wait for deliveries after sending stops; 0 = 5 s.
	Drain time.Duration
	// Progress, when set, receives a progress line every second.
	Progress io.Writer
}

// Errors for bad configurations and unusable targets.
var (
	ErrBadConfig    = errors.New("bench: bad configuration")
	ErrNotLoopback  = errors.New("bench: target is not a loopback address")
	ErrRefused      = errors.New("bench: target refused the connection")
	ErrFileLimit    = errors.New("bench: open-file limit too low")
	ErrSetupTimeout = errors.New("bench: setup did not finish in time")
)

func (cfg Config) withDefaults() Config {
	if cfg.Duration == 0 {
		cfg.Duration = 30 * time.Second
	}
	cfg.Pairs = orInt(cfg.Pairs, 4)
	cfg.GroupSize = orInt(cfg.GroupSize, 8)
	cfg.Groups = orInt(cfg.Groups, 1)
	cfg.Conns = orInt(cfg.Conns, 1000)
	cfg.Size = orInt(cfg.Size, 100)
	if cfg.SetupTimeout == 0 {
		cfg.SetupTimeout = 5 * time.Minute
	}
	if cfg.Drain == 0 {
		cfg.Drain = 5 * time.Second
	}
	if !cfg.MaxRate && cfg.Rate == 0 {
		cfg.Rate = 200
	}
	return cfg
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Validate checks cfg without any I/O.
func (cfg Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, a...))
	}
	known := false
	for _, s := range scenarioNames {
		known = known || s == cfg.Scenario
	}
	switch {
	case !known:
		return bad("unknown scenario %q (want 1to1, group, idle or churn)", cfg.Scenario)
	case cfg.Rate < 0 || (cfg.MaxRate && cfg.Rate != 0):
		return bad("rate must be a positive number of messages/s or max")
	case cfg.Duration < 0 || (cfg.Duration > 0 && cfg.Duration < 100*time.Millisecond):
		return bad("duration must be at least 100ms")
	case cfg.MaxMessages < 0:
		return bad("max-messages must not be negative")
	case cfg.Pairs < 0 || cfg.Groups < 0 || cfg.Conns < 0 || cfg.Size < 0:
		return bad("pairs, groups, conns and size must not be negative")
	case cfg.InFlight < 0 || cfg.InFlight > 1024:
		return bad("in-flight must be 1..1024")
	case cfg.GroupSize < 0 || cfg.GroupSize == 1 || cfg.GroupSize > 2000:
		return bad("group-size must be 2..2000")
	case cfg.Size > 60<<10:
		return bad("size must be at most 61440 bytes")
	case cfg.FastClients && (cfg.Scenario == Idle || cfg.Scenario == Churn):
		return bad("fast-clients applies to 1to1 and group only")
	}
	return nil
}

// Run validates cfg, checks the target, sets up clients, runs the scenario
// for at most cfg.Duration and returns the report. It cleans up what it
// started, including the in-process server.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := checkTarget(ctx, cfg); err != nil {
		return nil, err
	}
	if err := checkFileLimit(cfg); err != nil {
		return nil, err
	}
	env, err := start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer env.close()
	return env.run(ctx)
}
