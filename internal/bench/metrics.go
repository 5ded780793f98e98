package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sealine/sealine/client"
)

// sample is what we read from the server's Prometheus metrics.
type sample struct {
	cpu, rss, heap, goroutines float64
	ok                         bool
}

// scrapedNames are the metric names (without labels) read into a sample,
// in the order cpu, rss, heap, goroutines.
var scrapedNames = []string{
	"sealine_process_cpu_seconds_total", "sealine_process_resident_memory_bytes",
	"sealine_heap_inuse_bytes", "sealine_goroutines",
}

// scrape reads the process metrics from a Prometheus text endpoint.
func scrape(ctx context.Context, url string) (sample, error) {
	if url == "" {
		return sample{}, errors.New("no metrics URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sample{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("metrics: %s", resp.Status)
	}
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := parseLine(sc.Text())
		if ok {
			vals[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return sample{}, err
	}
	s := sample{cpu: vals[scrapedNames[0]], rss: vals[scrapedNames[1]], heap: vals[scrapedNames[2]], goroutines: vals[scrapedNames[3]]}
	s.ok = s.rss > 0
	if !s.ok {
		return s, errors.New("metrics lack sealine_process_resident_memory_bytes")
	}
	return s, nil
}

// parseLine parses `name{labels} value` for the names we want.
func parseLine(line string) (string, float64, bool) {
	if line == "" || line[0] == '#' {
		return "", 0, false
	}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return "", 0, false
	}
	name := line[:end]
	want := false
	for _, n := range scrapedNames {
		want = want || n == name
	}
	if !want {
		return "", 0, false
	}
	rest := line[end:]
	if i := strings.LastIndexByte(rest, '}'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest) // value [timestamp]
	if len(fields) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return name, v, err == nil
}

// serverStats turns samples before and after the measured phase into
// ServerStats; base is the sample before the connections under test.
func serverStats(source string, base, before, after sample, conns int) ServerStats {
	st := ServerStats{Source: source, Conns: conns}
	if !after.ok {
		return st
	}
	st.CPUSeconds = after.cpu - before.cpu
	st.RSSBytes, st.HeapBytes, st.Goroutines = after.rss, after.heap, after.goroutines
	if conns > 0 && base.ok {
		st.HeapPerConn = (after.heap - base.heap) / float64(conns)
		st.RSSPerConn = (after.rss - base.rss) / float64(conns)
	}
	return st
}

// reasonOf names an error for the errors-by-reason table.
func reasonOf(err error) string {
	var ce *client.Error
	switch {
	case errors.As(err, &ce) && ce.Reason != "":
		return ce.Reason
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_source_port"
	case errors.Is(err, syscall.EMFILE):
		return "too_many_open_files"
	case errors.Is(err, errBehind):
		return "sender_behind"
	case errors.Is(err, errLost):
		return "not_delivered"
	}
	var s = err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return "other: " + s
}

// Errors the engine itself counts.
var (
	errBehind = errors.New("sender fell more than a second behind the target rate")
	errLost   = errors.New("message not delivered before the drain timeout")
)
