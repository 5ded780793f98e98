package bench

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestFileLimit: a run needing more descriptors than the soft limit is
// refused with ErrFileLimit, and the message gives the numbers and the
// command that raises the limit; a limit at or above the need passes.
func TestFileLimit(t *testing.T) {
	cfg := Config{Scenario: Idle, Conns: 100000}.withDefaults()
	need := needFiles(cfg)
	if need <= uint64(cfg.Conns) {
		t.Fatalf("needFiles = %d for %d idle streams; want more than one per stream", need, cfg.Conns)
	}
	cases := []struct {
		name string
		lim  syscall.Rlimit
		ok   bool
	}{
		{"far below", syscall.Rlimit{Cur: 1024, Max: 4096}, false},
		{"one below", syscall.Rlimit{Cur: need - 1, Max: need - 1}, false},
		{"exactly", syscall.Rlimit{Cur: need, Max: need}, true},
		{"above", syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := fileLimit(need, tc.lim)
			if tc.ok {
				if err != nil {
					t.Fatalf("fileLimit(%d, %+v) = %v, want nil", need, tc.lim, err)
				}
				return
			}
			if !errors.Is(err, ErrFileLimit) {
				t.Fatalf("fileLimit(%d, %+v) = %v, want ErrFileLimit", need, tc.lim, err)
			}
			for _, want := range []string{
				fmt.Sprintf("needs about %d open files", need),
				fmt.Sprintf("the limit is %d", tc.lim.Cur),
				fmt.Sprintf("ulimit -n %d", need),
				fmt.Sprintf("hard limit is %d", tc.lim.Max),
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}
