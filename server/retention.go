package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sealine/sealine/store"
)

// LifecycleConfig sets the retention periods and the purge job.
type LifecycleConfig struct {
	// Retention is how long each kind of data is kept.
	Retention Retention
	// PurgeEvery is how often the purge job runs on each node; 0 = 1
	// hour, negative = never (run `sealine admin purge` instead). Purges
	// are idempotent, so several nodes may run them at once.
	PurgeEvery time.Duration
	// PurgeBatch bounds the rows one purge transaction deletes; 0 = 500.
	PurgeBatch int
}

// Retention is how long each kind of data is kept; a zero field takes its
// default from RetentionTable. The purge job enforces QueuedMessages,
// Blobs, InactiveSessions and WithdrawnUsernames. Reports and SecurityLogs
// are not purged by the server: it stores no reports yet (the period is
// reserved), and it keeps no logs (security events go to the Logger, so
// the log sink must enforce SecurityLogs).
type Retention struct {
	QueuedMessages     time.Duration
	Blobs              time.Duration
	InactiveSessions   time.Duration
	Reports            time.Duration // reserved: no reports are stored yet
	SecurityLogs       time.Duration // for the log sink: the server keeps no logs
	WithdrawnUsernames time.Duration
}

// RetentionRule is one row of the retention table.
type RetentionRule struct {
	Kind    string
	Default time.Duration
	Purpose string
	// Purged says whether the server's purge job deletes this kind.
	Purged bool
	// Enforced says where the period is enforced, and for a kind the
	// server does not purge, why not.
	Enforced string
}

const day = 24 * time.Hour

// RetentionTable is the retention policy: one row per kind of data, with
// its default period and why the data is kept at all. docs/OPERATIONS.md
// reproduces it.
func RetentionTable() []RetentionRule {
	return []RetentionRule{
		{"queued_messages", 30 * day, "deliver ciphertext to a device that is offline", true, "purge job"},
		{"blobs", 30 * day, "let recipients download an encrypted attachment", true,
			"purge job (record and bytes; bytes no record refers to, left by a crash, after an hour)"},
		{"inactive_sessions", 180 * day, "keep a device logged in between uses", true, "purge job (device, its sessions and key packages)"},
		{"reports", 365 * day, "review abuse reports and restrict repeat offenders", false,
			"not purged: the server stores no reports yet; the period is reserved for when it does"},
		{"security_logs", 90 * day, "investigate attacks (logins, lockouts, revocations)", false,
			"not purged: the server keeps no logs; it writes security events to stderr, so set this period in the log sink (journald, collector)"},
		{"withdrawn_usernames", 30 * day, "stop anyone from taking a departed user's name at once", true, "purge job (blind index and time only)"},
	}
}

func (r Retention) withDefaults() Retention {
	t := RetentionTable()
	for i, p := range []*time.Duration{&r.QueuedMessages, &r.Blobs, &r.InactiveSessions, &r.Reports, &r.SecurityLogs, &r.WithdrawnUsernames} {
		*p = or(*p, t[i].Default)
	}
	return r
}

func (cfg LifecycleConfig) withDefaults() LifecycleConfig {
	cfg.Retention = cfg.Retention.withDefaults()
	cfg.PurgeEvery = or(cfg.PurgeEvery, time.Hour)
	cfg.PurgeBatch = or(cfg.PurgeBatch, 500)
	return cfg
}

// PurgeReport counts the rows one purge run deleted, by kind.
type PurgeReport map[store.PurgeKind]int64

// PurgeProgress is called after each batch with the kind and the rows
// of that kind deleted so far.
type PurgeProgress func(kind store.PurgeKind, deleted int64)

// purger runs the retention purges over a store and a blob store.
type purger struct {
	store store.Store
	blobs BlobStore
	cfg   LifecycleConfig
}

// run purges every kind once, batch by batch, until nothing is older than
// its period at now.
func (p purger) run(ctx context.Context, now time.Time, progress PurgeProgress) (PurgeReport, error) {
	r := p.cfg.Retention
	report := PurgeReport{}
	for _, k := range []struct {
		kind   store.PurgeKind
		period time.Duration
	}{
		{store.PurgeQueued, r.QueuedMessages},
		{store.PurgeBlobs, r.Blobs},
		{store.PurgeSessions, r.InactiveSessions},
		{store.PurgeQuarantine, r.WithdrawnUsernames},
	} {
		n, err := p.kind(ctx, k.kind, now.Add(-k.period), progress)
		report[k.kind] = n
		if err != nil {
			return report, err
		}
		if k.kind == store.PurgeBlobs {
			n, err := p.sweepOrphans(ctx, now)
			report[k.kind] += n
			if err != nil {
				return report, err
			}
			if progress != nil && n > 0 {
				progress(k.kind, report[k.kind])
			}
		}
	}
	return report, nil
}

// kind purges one kind in batches; blob bytes go before their records,
// so a crash between the two leaves a record the next run finishes.
func (p purger) kind(ctx context.Context, kind store.PurgeKind, cutoff time.Time, progress PurgeProgress) (int64, error) {
	var total int64
	for {
		if err := p.deleteBlobBytes(ctx, kind, cutoff); err != nil {
			return total, err
		}
		n, err := p.store.Purge(ctx, kind, cutoff, p.cfg.PurgeBatch)
		total += n
		if err != nil {
			return total, err
		}
		if progress != nil {
			progress(kind, total)
		}
		if n < int64(p.cfg.PurgeBatch) {
			return total, nil
		}
	}
}

// orphanGrace is how old bytes without a record must be before the purge
// deletes them: an upload's record is written milliseconds after its
// bytes, so an hour never catches one in flight.
const orphanGrace = time.Hour

// sweepOrphans deletes blob bytes that no record refers to and unfinished
// uploads, both older than orphanGrace at now (see BlobSweeper).
func (p purger) sweepOrphans(ctx context.Context, now time.Time) (int64, error) {
	sw, ok := p.blobs.(BlobSweeper)
	if !ok {
		return 0, nil
	}
	n, err := sw.Sweep(ctx, now.Add(-orphanGrace), func(ctx context.Context, key string) (bool, error) {
		_, err := p.store.Blob(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return n, fmt.Errorf("purge blobs: sweep orphans: %w", err)
	}
	return n, nil
}

func (p purger) deleteBlobBytes(ctx context.Context, kind store.PurgeKind, cutoff time.Time) error {
	if kind != store.PurgeBlobs || p.blobs == nil {
		return nil
	}
	ids, err := p.store.ExpiredBlobs(ctx, cutoff, p.cfg.PurgeBatch)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := p.blobs.Delete(ctx, id); err != nil {
			return fmt.Errorf("purge blobs: delete bytes: %w", err)
		}
	}
	return nil
}

// PurgeNow runs the retention purge once, as the scheduled job does.
func (s *Server) PurgeNow(ctx context.Context, progress PurgeProgress) (PurgeReport, error) {
	p := purger{store: s.store, blobs: s.msg.cfg.BlobStore, cfg: s.lc.cfg}
	report, err := p.run(ctx, s.now(), progress)
	for kind, n := range report {
		s.lc.purged.WithLabelValues(string(kind)).Add(float64(n))
	}
	logPurge(s.log, report, err)
	return report, err
}

// logPurge logs counts only.
func logPurge(log *slog.Logger, report PurgeReport, err error) {
	attrs := make([]any, 0, 2*len(report)+2)
	for _, k := range []store.PurgeKind{store.PurgeQueued, store.PurgeBlobs, store.PurgeSessions, store.PurgeQuarantine} {
		attrs = append(attrs, string(k), report[k])
	}
	if err != nil {
		log.Error("purge failed", append(attrs, "err", err.Error())...)
		return
	}
	log.Info("purge", attrs...)
}

// purgeLoop runs the purge every PurgeEvery until ctx ends or the server
// stops.
func (s *Server) purgeLoop(ctx context.Context) {
	if s.lc.cfg.PurgeEvery < 0 {
		return
	}
	t := time.NewTicker(s.lc.cfg.PurgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopping:
			return
		case <-t.C:
			if _, err := s.PurgeNow(ctx, nil); errors.Is(err, context.Canceled) {
				return
			}
		}
	}
}
