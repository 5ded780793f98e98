package server

import (
	"sync"
	"time"
)

// maxBuckets bounds the limiter's memory; when full, idle buckets are
// dropped (a dropped bucket restarts full, which only forgives an idle IP).
const maxBuckets = 100_000

// limiter is a per-key token bucket: burst tokens, one more per interval.
// Its state is node-local on purpose: it sheds load before hashing, and
// losing it on restart is harmless.
type limiter struct {
	burst    float64
	interval time.Duration

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, interval time.Duration) *limiter {
	return &limiter{burst: float64(burst), interval: interval, buckets: map[string]bucket{}}
}

// allow takes one token for key at now. When none is left it returns false
// and the time the next token arrives.
func (l *limiter) allow(key string, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		l.makeRoom(now)
		b = bucket{tokens: l.burst, at: now}
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+float64(elapsed)/float64(l.interval))
		b.at = now
	}
	if b.tokens < 1 {
		l.buckets[key] = b
		wait := time.Duration((1 - b.tokens) * float64(l.interval))
		return false, now.Add(wait)
	}
	b.tokens--
	l.buckets[key] = b
	return true, time.Time{}
}

// makeRoom drops buckets that have refilled completely, when the map is full.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.buckets) < maxBuckets {
		return
	}
	full := time.Duration(l.burst) * l.interval
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}
