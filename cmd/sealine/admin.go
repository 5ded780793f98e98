package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/sealine/sealine/server"
	"github.com/sealine/sealine/store"
)

// adminFlags locate a server's data, as `sealine serve` does.
type adminFlags struct {
	dataDir, db, kekFile, retention string
	progress                        bool
	line                            *stderrLine // see stderr
}

// retentionUsage documents --retention.
const retentionUsage = "retention periods, e.g. queued_messages=14d,blobs=7d (kinds: see 'sealine admin retention')"

func (f *adminFlags) define(fs *pflag.FlagSet) {
	envFlag(fs, &f.dataDir, "data-dir", "SEALINE_DATA_DIR", server.DefaultDataDir(), "data directory of the server")
	envFlag(fs, &f.db, "db", "SEALINE_DB", "", `database: empty for SQLite in the data dir, "sqlite:PATH", or a postgres:// URL`)
	envFlag(fs, &f.kekFile, "kek-file", "SEALINE_KEK_FILE", "", "key-encryption key file (default <data-dir>/kek.key)")
	fs.BoolVar(&f.progress, "progress", false, "show progress even when stderr is not a terminal")
	envFlag(fs, &f.retention, "retention", "SEALINE_RETENTION", "", retentionUsage)
}

// config is the server.Config of the flags, logging JSON (counts only) to
// stderr.
func (f *adminFlags) config(a *app) server.Config {
	r, _ := server.ParseRetention(f.retention) // checked by open
	return server.Config{DataDir: f.dataDir, DB: f.db, KEKFile: f.kekFile,
		Lifecycle: server.LifecycleConfig{Retention: r},
		Logger:    slog.New(slog.NewJSONHandler(f.stderr(a), &slog.HandlerOptions{Level: slog.LevelInfo}))}
}

// open opens the server's store for an operator task.
func (f *adminFlags) open(ctx context.Context, a *app) (*server.Admin, error) {
	if _, err := server.ParseRetention(f.retention); err != nil {
		return nil, usageError{fmt.Errorf("--retention: %w", err)}
	}
	db := filepath.Join(f.dataDir, "sealine.db")
	if p, ok := strings.CutPrefix(f.db, "sqlite:"); ok {
		db = p
	}
	if !strings.HasPrefix(f.db, "postgres") {
		if _, err := os.Stat(db); err != nil {
			return nil, fmt.Errorf("no Sealine database at %s (see --data-dir, --db): %w", db, err)
		}
	}
	return server.OpenAdmin(ctx, f.config(a))
}

// bar draws progress on stderr when it is a terminal or --progress is set.
type bar struct {
	w    *stderrLine
	show bool
}

func (f *adminFlags) bar(a *app) bar {
	show := f.progress
	if file, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		show = true
	}
	return bar{w: f.stderr(a), show: show}
}

// stderr is where the command's progress and logs go: a log line ends a
// progress line first, so the two never share a line.
func (f *adminFlags) stderr(a *app) *stderrLine {
	if f.line == nil {
		f.line = &stderrLine{w: a.stderr}
	}
	return f.line
}

// stderrLine writes to w, remembering whether a progress line is open.
type stderrLine struct {
	mu   sync.Mutex
	w    io.Writer
	open bool
}

// Write ends an open progress line, then writes p (a log line).
func (l *stderrLine) Write(p []byte) (int, error) {
	l.end()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// draw replaces the progress line.
func (l *stderrLine) draw(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "\r"+format, a...)
	l.open = true
}

// end ends the progress line, if one is open.
func (l *stderrLine) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open {
		fmt.Fprintln(l.w)
		l.open = false
	}
}

// pages draws "[#####.....] 50% label" for done of total.
func (b bar) pages(label string, done, total int) {
	if !b.show || total <= 0 {
		return
	}
	const width = 30
	n := done * width / total
	b.w.draw("[%s%s] %3d%% %s", strings.Repeat("#", n), strings.Repeat(".", width-n), done*100/total, label)
	if done == total {
		b.w.end()
	}
}

// count draws "label: n deleted".
func (b bar) count(kind store.PurgeKind, n int64) {
	if b.show {
		b.w.draw("purging %s: %d deleted", kind, n)
	}
}

func (b bar) done() { b.w.end() }

// newAdminCmd groups the operator commands.
func newAdminCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operator tasks on a server's data: purge, backup, restore, rotate-kek",
		Args:  noArgs,
	}
	cmd.AddCommand(newPurgeCmd(a), newBackupCmd(a), newRestoreCmd(a), newRotateKEKCmd(a), newRetentionCmd(a))
	return cmd
}

func newPurgeCmd(a *app) *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete data older than its retention period now (the server also does this on a schedule)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, err := f.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			defer adm.Close()
			b := f.bar(a)
			report, err := adm.Purge(cmd.Context(), func(k store.PurgeKind, n int64) { b.count(k, n) })
			b.done()
			for _, rule := range server.RetentionTable() {
				if n, ok := report[store.PurgeKind(rule.Kind)]; ok {
					fmt.Fprintf(a.stdout, "%s: %d deleted\n", rule.Kind, n)
				}
			}
			if err != nil {
				return fmt.Errorf("purge: %w", err)
			}
			return nil
		},
	}
	f.define(cmd.Flags())
	return cmd
}

func newBackupCmd(a *app) *cobra.Command {
	var f adminFlags
	var keys bool
	cmd := &cobra.Command{
		Use:   "backup OUT",
		Short: "Write a consistent snapshot of the SQLite data (or, with --keys, of the key store) to OUT while the server runs",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := f.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			defer adm.Close()
			b := f.bar(a)
			progress := func(done, total int) { b.pages("pages", done, total) }
			if keys {
				err = adm.BackupKeys(cmd.Context(), args[0], progress)
			} else {
				err = adm.Backup(cmd.Context(), args[0], progress)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "backup written to %s\n", args[0])
			return nil
		},
	}
	f.define(cmd.Flags())
	cmd.Flags().BoolVar(&keys, "keys", false, "back up the key store instead (keep those backups apart, for a short time)")
	return cmd
}

func newRestoreCmd(a *app) *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "restore IN",
		Short: "Replace the SQLite data with the backup IN (stop the server first); refuses corrupted or truncated backups",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := server.Restore(cmd.Context(), f.config(a), args[0]); err != nil {
				return err
			}
			adm, err := f.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			defer adm.Close()
			n, err := adm.SweepWithdrawn(cmd.Context())
			if err != nil {
				return fmt.Errorf("restored %s, but removing withdrawn users failed (run restore again): %w", args[0], err)
			}
			fmt.Fprintf(a.stdout, "restored %s; removed %d account(s) withdrawn since the backup (their keys are gone)\n", args[0], n)
			return nil
		},
	}
	f.define(cmd.Flags())
	return cmd
}

func newRotateKEKCmd(a *app) *cobra.Command {
	var f adminFlags
	var batch int
	cmd := &cobra.Command{
		Use:   "rotate-kek",
		Short: "Introduce a new key-encryption key and rewrap every data key under it, online; run again to resume",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, err := f.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			defer adm.Close()
			b := f.bar(a)
			rep, err := adm.RotateKEK(cmd.Context(), batch, func(done, total int64) { b.pages("keys rewrapped", int(done), int(total)) })
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "rewrapped %d of %d keys; the KEK is now %s\n", rep.Rewrapped, rep.Total, rep.NewKEKID)
			if rep.RetiredFile != "" {
				fmt.Fprintf(a.stdout, "old KEK retired to %s: it only opens key-store backups made before now; delete it when those expire\n", rep.RetiredFile)
			}
			return nil
		},
	}
	f.define(cmd.Flags())
	cmd.Flags().IntVar(&batch, "batch", 500, "keys per round")
	return cmd
}

// newRetentionCmd prints the retention table in effect for --retention.
func newRetentionCmd(a *app) *cobra.Command {
	var retention string
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "Show the retention period, purpose and enforcement of each kind of data",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := server.ParseRetention(retention)
			if err != nil {
				return usageError{fmt.Errorf("--retention: %w", err)}
			}
			w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "KIND\tPERIOD\tPURPOSE\tENFORCED BY")
			for _, rule := range r.Effective() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", rule.Kind, days(rule.Default), rule.Purpose, rule.Enforced)
			}
			return w.Flush()
		},
	}
	envFlag(cmd.Flags(), &retention, "retention", "SEALINE_RETENTION", "", retentionUsage)
	return cmd
}

// days prints whole days as "30d", anything else as a duration.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
