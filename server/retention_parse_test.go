package server

import (
	"errors"
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	r, err := ParseRetention("queued_messages=14d, blobs=36h,withdrawn_usernames=90d")
	if err != nil {
		t.Fatal(err)
	}
	if r.QueuedMessages != 14*day || r.Blobs != 36*time.Hour || r.WithdrawnUsernames != 90*day || r.InactiveSessions != 0 {
		t.Fatalf("ParseRetention = %+v", r)
	}
	eff := r.Effective()
	if eff[0].Default != 14*day || eff[2].Default != 180*day {
		t.Fatalf("Effective = %+v", eff)
	}
	for _, bad := range []string{"queued=1d", "blobs", "blobs=0d", "blobs=-1h", "blobs=xd", "blobs=1d,", "blobs=99999d"} {
		if _, err := ParseRetention(bad); !errors.Is(err, ErrBadRetention) {
			t.Errorf("ParseRetention(%q) = %v, want ErrBadRetention", bad, err)
		}
	}
}
