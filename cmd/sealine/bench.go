package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sealine/sealine/internal/bench"
)

// benchFlags are the flags of `sealine bench`.
type benchFlags struct {
	rate, metrics, db, pprof, clientDir   string
	allowRemote, fast, json               bool
	duration, setupTimeout                time.Duration
	maxMessages                           int64
	pairs, groupSize, groups, conns, size int
	inFlight                              int
}

func newBenchCmd(a *app) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench SCENARIO",
		Short: "Load a server and report throughput, latency and memory (scenarios: 1to1, group, idle, churn)",
		Long: `bench drives a Sealine server through the real client SDK (MLS, TLS 1.3)
and reports messages/s accepted and delivered, end-to-end latency, errors
by reason, and the server's CPU, RSS and heap per connection.

Without --server it starts a server in this process on a loopback port
with a temporary data dir (--db postgres://... puts its data in a fresh
PostgreSQL schema, dropped afterwards). A --server that is not loopback
is refused unless --allow-remote is given.

Scenarios:
  1to1   pairs of users send to each other (--pairs, --rate N or max)
  group  groups of --group-size members; one sends, the server fans out
  idle   hold --conns subscribed streams open, each on its own connection
  churn  add and remove group members (MLS commits), a message after each`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.config(a, cmd, args[0])
			if err != nil {
				return err
			}
			rep, err := bench.Run(cmd.Context(), cfg)
			if errors.Is(err, bench.ErrBadConfig) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if f.json {
				return rep.WriteJSON(a.stdout)
			}
			return rep.WriteTable(a.stdout)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.rate, "rate", "200", `messages/s to send in total, or "max"`)
	fs.DurationVar(&f.duration, "duration", 30*time.Second, "how long to measure (setup not included)")
	fs.Int64Var(&f.maxMessages, "max-messages", 0, "stop after sending this many messages (0: no limit)")
	fs.IntVar(&f.pairs, "pairs", 4, "1to1: number of user pairs")
	fs.IntVar(&f.groupSize, "group-size", 8, "group, churn: members per group")
	fs.IntVar(&f.groups, "groups", 1, "group: number of groups")
	fs.IntVar(&f.conns, "conns", 1000, "idle: streams to hold open")
	fs.IntVar(&f.size, "size", 100, "message text size in bytes")
	fs.IntVar(&f.inFlight, "in-flight", 0, "1to1, group: sends each sender keeps going at once (0: 1 for SDK clients, 32 for fast clients)")
	fs.BoolVar(&f.fast, "fast-clients", false, "1to1, group: replay pre-encrypted messages and skip decryption to push the server harder")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a --server that is not a loopback address")
	fs.StringVar(&f.metrics, "metrics", "", "a --server's Prometheus /metrics URL, for its CPU and memory")
	fs.StringVar(&f.db, "db", "", "in-process server's database: empty for SQLite in a temp dir, or a postgres:// URL")
	fs.StringVar(&f.pprof, "pprof", "", "save CPU and heap profiles of this process during the run in DIR")
	fs.StringVar(&f.clientDir, "client-dir", "", "put the bench clients' local stores in a temp dir under DIR (e.g. /dev/shm), apart from the server's data")
	fs.DurationVar(&f.setupTimeout, "setup-timeout", 5*time.Minute, "bound on registering users and opening connections")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
	return cmd
}

// config turns the flags into a bench.Config; bad values are usage errors.
func (f benchFlags) config(a *app, cmd *cobra.Command, scenario string) (bench.Config, error) {
	cfg := bench.Config{
		Scenario: scenario, Duration: f.duration, MaxMessages: f.maxMessages, Pairs: f.pairs,
		GroupSize: f.groupSize, Groups: f.groups, Conns: f.conns, Size: f.size, FastClients: f.fast,
		InFlight:    f.inFlight,
		AllowRemote: f.allowRemote, MetricsURL: f.metrics, DB: f.db, PprofDir: f.pprof, SetupTimeout: f.setupTimeout,
		ClientDir: f.clientDir,
	}
	bad := func(format string, args ...any) (bench.Config, error) {
		return bench.Config{}, usageError{fmt.Errorf(format, args...)}
	}
	if f.duration <= 0 {
		return bad("--duration must be positive, e.g. 30s")
	}
	if f.setupTimeout <= 0 {
		return bad("--setup-timeout must be positive")
	}
	if f.rate == "max" {
		cfg.MaxRate = true
	} else if r, err := strconv.ParseFloat(f.rate, 64); err != nil || r <= 0 || r != r {
		return bad(`--rate %q: want a positive number of messages/s or "max"`, f.rate)
	} else {
		cfg.Rate = r
	}
	if fl := cmd.Flag("server"); fl != nil && fl.Changed {
		if f.db != "" {
			return bad("--db applies to the in-process server only, not with --server")
		}
		cfg.ServerURL = a.server
		if a.ca != "" {
			raw, err := os.ReadFile(a.ca)
			if err != nil {
				return bad("--ca: %w", err)
			}
			cfg.CAPEM = raw
		}
	}
	if file, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		cfg.Progress = a.stderr
	}
	return cfg, nil
}
