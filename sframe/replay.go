package sframe

import "fmt"

// DefaultReplayWindow is the replay window used when Config.ReplayWindow is 0.
const DefaultReplayWindow = 128

// MaxReplayWindow bounds Config.ReplayWindow, and so the memory per KID
// (MaxReplayWindow/8 bytes).
const MaxReplayWindow = 1 << 16

// replayWindow remembers which counters were accepted for one KID. It
// accepts a counter once, and only if it is above top-size: the highest
// accepted counter minus the window size. Bits live in a ring of a power of
// two bits, at least 64 and at least size, indexed by counter & mask.
type replayWindow struct {
	size uint64 // window size in counters
	mask uint64 // ring size in bits, minus one
	top  uint64 // highest accepted counter, valid once any is set
	any  bool
	bits []uint64
}

func newReplayWindow(size int) replayWindow {
	ring := uint64(64)
	for ring < uint64(size) {
		ring *= 2
	}
	return replayWindow{size: uint64(size), mask: ring - 1, bits: make([]uint64, ring/64)}
}

// check reports whether ctr may be accepted, without changing anything.
func (w *replayWindow) check(ctr uint64) error {
	switch {
	case !w.any || ctr > w.top:
		return nil
	case w.top-ctr >= w.size:
		return fmt.Errorf("ctr %d, highest %d, window %d: %w", ctr, w.top, w.size, ErrTooOld)
	case w.has(ctr):
		return fmt.Errorf("ctr %d: %w", ctr, ErrReplay)
	}
	return nil
}

// accept records ctr, which check has allowed and the AEAD has verified.
func (w *replayWindow) accept(ctr uint64) {
	if !w.any || ctr > w.top {
		w.slide(ctr)
	}
	i := ctr & w.mask
	w.bits[i/64] |= 1 << (i % 64)
}

// slide makes ctr the new top, forgetting the counters that leave the ring.
func (w *replayWindow) slide(ctr uint64) {
	if !w.any || ctr-w.top > w.mask {
		clear(w.bits)
	} else {
		for c := w.top + 1; c != ctr; c++ {
			i := c & w.mask
			w.bits[i/64] &^= 1 << (i % 64)
		}
	}
	w.top, w.any = ctr, true
}

func (w *replayWindow) has(ctr uint64) bool {
	i := ctr & w.mask
	return w.bits[i/64]&(1<<(i%64)) != 0
}
