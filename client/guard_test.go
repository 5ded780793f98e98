package client

import (
	"testing"
	"time"

	"github.com/sealine/sealine/client/localstore"
)

func TestCheckSeq(t *testing.T) {
	now := time.Unix(1000, 0)
	type step struct {
		epoch, seq       uint64
		prevEpoch, count uint64
		at               time.Duration
		deliver          bool
		warn             WarningKind // 0: none
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{epoch: 1, seq: 1, deliver: true}, {epoch: 1, seq: 2, deliver: true}}},
		{"replay", []step{{epoch: 1, seq: 1, deliver: true}, {epoch: 1, seq: 1, warn: WarnReplay}}},
		{"reorder within window", []step{{epoch: 1, seq: 2, deliver: true}, {epoch: 1, seq: 1, deliver: true}}},
		{"dropped by window", []step{{epoch: 1, seq: 1, deliver: true}, {epoch: 1, seq: 5, deliver: true, warn: WarnDropped}}},
		{"dropped by time", []step{{epoch: 1, seq: 2, deliver: true}, {epoch: 1, seq: 3, at: time.Minute, deliver: true, warn: WarnDropped}}},
		{"late after declared", []step{{epoch: 1, seq: 4, deliver: true, warn: WarnDropped}, {epoch: 1, seq: 1, deliver: true, warn: WarnReordered}}},
		{"gap at epoch change", []step{{epoch: 1, seq: 2, deliver: true}, {epoch: 2, seq: 1, prevEpoch: 1, count: 2, deliver: true, warn: WarnDropped}}},
		{"tail dropped", []step{{epoch: 1, seq: 1, deliver: true}, {epoch: 2, seq: 1, prevEpoch: 1, count: 3, deliver: true, warn: WarnDropped}}},
		{"whole epoch dropped", []step{{epoch: 1, seq: 1, deliver: true}, {epoch: 3, seq: 1, prevEpoch: 2, count: 1, deliver: true, warn: WarnDropped}}},
		{"clean epoch change", []step{{epoch: 1, seq: 1, deliver: true}, {epoch: 2, seq: 1, prevEpoch: 1, count: 1, deliver: true}}},
		{"first message of a joiner's epoch missing", []step{{epoch: 5, seq: 2, deliver: true}, {epoch: 5, seq: 3, at: time.Hour, deliver: true, warn: WarnDropped}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := localstore.SenderState{Missing: map[uint64]time.Time{}}
			for i, s := range tc.steps {
				c := &Content{Seq: s.seq, PrevEpoch: s.prevEpoch, PrevCount: s.count}
				v := checkSeq(&st, s.epoch, c, now.Add(s.at), 2, 30*time.Second)
				var got WarningKind
				if len(v.warnings) > 0 {
					got = v.warnings[0].kind
				}
				if v.deliver != s.deliver || got != s.warn {
					t.Errorf("step %d: deliver=%v warn=%v (%v), want %v %v", i, v.deliver, got, v.warnings, s.deliver, s.warn)
				}
			}
		})
	}
}
