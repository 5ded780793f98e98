package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadRetention: a retention setting is not KIND=DURATION with a known
// kind and a positive duration.
var ErrBadRetention = errors.New("server: retention must be KIND=DURATION[,KIND=DURATION...] with a known kind and a positive duration such as 30d or 12h")

// ParseRetention reads "queued_messages=14d,blobs=7d" (kinds as in
// RetentionTable; durations as time.ParseDuration, plus "d" for days).
// Kinds not named keep their default.
func ParseRetention(s string) (Retention, error) {
	var r Retention
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for _, item := range strings.Split(s, ",") {
		kind, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		d, err := parseDays(v)
		field := r.field(kind)
		if !ok || err != nil || d <= 0 || field == nil {
			return Retention{}, fmt.Errorf("%w: %q", ErrBadRetention, item)
		}
		*field = d
	}
	return r, nil
}

// field returns the field of kind, or nil.
func (r *Retention) field(kind string) *time.Duration {
	switch kind {
	case "queued_messages":
		return &r.QueuedMessages
	case "blobs":
		return &r.Blobs
	case "inactive_sessions":
		return &r.InactiveSessions
	case "reports":
		return &r.Reports
	case "security_logs":
		return &r.SecurityLogs
	case "withdrawn_usernames":
		return &r.WithdrawnUsernames
	}
	return nil
}

// parseDays accepts "30d" as well as time.ParseDuration's forms.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days > 100*365 {
			return 0, ErrBadRetention
		}
		return time.Duration(days) * day, nil
	}
	return time.ParseDuration(v)
}

// Effective returns the table with r's periods (defaults where r is zero).
func (r Retention) Effective() []RetentionRule {
	r = r.withDefaults()
	t := RetentionTable()
	for i := range t {
		t[i].Default = *r.field(t[i].Kind)
	}
	return t
}
