package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

// run sets up the scenario, measures and reports.
func (e *env) run(ctx context.Context) (*Report, error) {
	rec := newRecorder()
	rep := e.newReport()
	e.base, _ = e.scrapeSettled(ctx)
	setupStart := time.Now()
	sctx, cancel := context.WithTimeout(ctx, e.cfg.SetupTimeout)
	defer cancel()
	sc, err := e.setup(sctx, rec)
	if err != nil {
		return nil, waitSetup(sctx, err)
	}
	defer sc.close()
	rep.SetupSecs = time.Since(setupStart).Seconds()
	before, _ := scrape(ctx, e.metrics)
	stopCPU, err := e.startCPUProfile()
	if err != nil {
		return nil, err
	}
	stopProgress := e.progress(rec)
	rec.begin()
	sc.measure(ctx, rec)
	stopProgress()
	after, scrapeErr := e.scrapeSettled(ctx)
	if err := stopCPU(); err != nil {
		return nil, err
	}
	if err := e.writeHeapProfile(); err != nil {
		return nil, err
	}
	source := e.metrics
	if scrapeErr != nil {
		source = "no server metrics (" + scrapeErr.Error() + ")"
	}
	e.fill(rep, rec, sc)
	rep.Server = serverStats(source, e.base, before, after, sc.conns())
	return rep, nil
}

// scrapeSettled samples the server's metrics for the per-connection figures.
// In process, the bench shares the server's heap, so a garbage collection
// first keeps the difference between two samples from going negative.
func (e *env) scrapeSettled(ctx context.Context) (sample, error) {
	if e.inproc {
		runtime.GC()
	}
	return scrape(ctx, e.metrics)
}

func (e *env) setup(ctx context.Context, rec *recorder) (scenario, error) {
	switch e.cfg.Scenario {
	case OneToOne:
		return e.setupOneToOne(ctx, rec)
	case Group:
		return e.setupGroup(ctx, rec)
	case Churn:
		return e.setupChurn(ctx, rec)
	default:
		return e.setupIdle(ctx, rec)
	}
}

func (e *env) newReport() *Report {
	rep := &Report{Scenario: e.cfg.Scenario, Target: e.url, Store: e.storeTag, FastClients: e.cfg.FastClients,
		Machine: thisMachine()}
	if e.cfg.Scenario == Group || e.cfg.Scenario == Churn {
		rep.GroupSize = e.cfg.GroupSize
	}
	if !e.cfg.MaxRate && e.cfg.Scenario != Idle && e.cfg.Scenario != Churn {
		rep.TargetRate = e.cfg.Rate
	}
	if e.inproc {
		rep.Target = "in-process " + e.url
		rep.Notes = append(rep.Notes, "the server runs in this process: its CPU, RSS and heap include the bench clients")
	}
	if e.cfg.ClientDir != "" {
		rep.Notes = append(rep.Notes, "client homes (local stores) in "+e.cfg.ClientDir+", apart from the server's data")
	}
	if e.cfg.FastClients {
		rep.Notes = append(rep.Notes, fastNote)
	}
	if e.cfg.MaxRate && e.cfg.Scenario != Idle && e.cfg.Scenario != Churn {
		rep.Notes = append(rep.Notes, "rate max: closed loop, each send starts when the previous one returns; latency counts from the start of each send")
	}
	if e.cfg.InFlight > 0 && e.cfg.Scenario != Idle && e.cfg.Scenario != Churn {
		rep.Notes = append(rep.Notes, fmt.Sprintf("in-flight %d: each sender keeps %d sends going at once", e.cfg.InFlight, e.cfg.InFlight))
	}
	if e.cfg.Scenario == Churn {
		rep.Notes = append(rep.Notes, "churn: the creator adds and removes users one commit at a time (closed loop), with one message after each add")
	}
	return rep
}

// fill copies the recorder's figures into rep.
func (e *env) fill(rep *Report, rec *recorder, sc scenario) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	send := rec.sendEnd.Sub(rec.start).Seconds()
	deliv := max(send, rec.lastDeliv.Sub(rec.start).Seconds())
	rep.Seconds, rep.Clients = send, sc.clients()
	rep.Accepted, rep.Delivered, rep.Expected = rec.accepted, rec.delivered, rec.expected
	rep.AcceptedPS = float64(rec.accepted) / max(send, 1e-9)
	rep.DeliveredPS = float64(rec.delivered) / max(deliv, 1e-9)
	rep.Latency = summarize(rec.lat)
	rep.Streams = int(rec.streams)
	if e.cfg.Scenario == Churn {
		l := summarize(rec.commitLat)
		rep.Commits, rep.CommitsPS, rep.CommitLat = rec.commits, float64(rec.commits)/max(send, 1e-9), &l
	}
	rep.Errors = map[string]int64{}
	for k, v := range rec.errs {
		if v > 0 {
			rep.Errors[k] = v
		}
	}
	if e.cfg.PprofDir != "" {
		rep.Profiles = []string{filepath.Join(e.cfg.PprofDir, "cpu.pprof"), filepath.Join(e.cfg.PprofDir, "heap.pprof")}
	}
}

// startCPUProfile profiles this process during the measured phase.
func (e *env) startCPUProfile() (func() error, error) {
	if e.cfg.PprofDir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(e.cfg.PprofDir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: pprof dir: %w", err)
	}
	f, err := os.Create(filepath.Join(e.cfg.PprofDir, "cpu.pprof"))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// writeHeapProfile saves the heap while the scenario's connections are open.
func (e *env) writeHeapProfile() error {
	if e.cfg.PprofDir == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(e.cfg.PprofDir, "heap.pprof"))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("bench: heap profile: %w", err)
	}
	return f.Close()
}

// progress prints a line every second to cfg.Progress until stopped.
func (e *env) progress(rec *recorder) func() {
	if e.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(e.cfg.Progress, "\r\033[K")
				return
			case <-tick.C:
			}
			a, d, _, errs := rec.counts()
			secs := time.Since(start).Seconds()
			fmt.Fprintf(e.cfg.Progress, "\r\033[K%s %3.0fs  accepted %d (%.0f/s)  delivered %d  errors %d",
				e.cfg.Scenario, secs, a, float64(a)/secs, d, errs)
		}
	}()
	return func() { close(done); <-stopped }
}
