package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sealine/sealine/mls"
	"github.com/sealine/sealine/store"
	"github.com/sealine/sealine/store/sqlite"
)

// countingQueues wraps a store's Write, recording batch sizes and pausing
// in each batch as a slow disk would.
type countingQueues struct {
	store.Queues
	pause   time.Duration
	mu      sync.Mutex
	batches []int
	stored  map[string]bool
}

func (c *countingQueues) Write(ctx context.Context, posts []store.Post, acks []store.AckRequest) ([]store.PostResult, []store.AckResult, error) {
	time.Sleep(c.pause)
	c.mu.Lock()
	c.batches = append(c.batches, len(posts)+len(acks))
	c.mu.Unlock()
	if c.Queues != nil {
		return c.Queues.Write(ctx, posts, acks)
	}
	out := make([]store.PostResult, len(posts))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range posts {
		c.stored[p.ID] = true
		out[i] = store.PostResult{Epoch: p.Epoch}
	}
	return out, make([]store.AckResult, len(acks)), nil
}

// TestGroupCommitManySenders: 400 concurrent sends to a real SQLite store
// are written in far fewer transactions than sends, each caller gets its
// own result, and every recipient's cursors run 1..n without a gap.
func TestGroupCommitManySenders(t *testing.T) {
	st, cq, c := sqliteCommitter(t)
	conv, sender, recipients := seedConversation(t, st, 3)
	const n = 400
	var wg sync.WaitGroup
	var dups atomic.Int32
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p := store.Post{ID: fmt.Sprint("m", i), Kind: store.EnvelopeApplication, ConversationID: conv.ID,
				GroupID: conv.GroupID, Epoch: conv.Epoch, SenderDeviceID: sender, ClientMessageID: []byte(fmt.Sprint(i % (n - 10))),
				Payload: []byte("ciphertext"), MaxQueue: 10000}
			res, err := c.submit(t.Context(), p)
			if res.Duplicate {
				dups.Add(1)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if dups.Load() != 10 {
		t.Errorf("%d duplicates, want 10", dups.Load())
	}
	if len(cq.batches) >= n/4 || slices.Max(cq.batches) < 10 {
		t.Errorf("%d batches for %d sends (largest %d): group commit is not batching", len(cq.batches), n, slices.Max(cq.batches))
	}
	for _, d := range recipients {
		env, err := st.Envelopes(t.Context(), d, 0, 10*n)
		if err != nil || len(env) != n-10 {
			t.Fatalf("%s has %d envelopes, %v; want %d", d, len(env), err, n-10)
		}
		for i, e := range env {
			if e.Cursor != uint64(i+1) {
				t.Fatalf("%s: envelope %d has cursor %d", d, i, e.Cursor)
			}
		}
	}
	t.Logf("%d sends in %d batches, largest %d", n, len(cq.batches), slices.Max(cq.batches))
}

// seedConversation makes a conversation with a sender and n recipients.
func seedConversation(t testing.TB, st store.Store, n int) (store.Conversation, string, []string) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	var devices []string
	for i := range n + 1 {
		u := store.User{ID: fmt.Sprint("u", i), UsernameIndex: []byte{byte(i)}, PasswordHash: "x", CreatedAt: now}
		d := store.Device{ID: fmt.Sprint("d", i), UserID: u.ID, SignatureKey: make([]byte, 32), CreatedAt: now}
		s := store.Session{TokenHash: []byte{byte(i)}, UserID: u.ID, DeviceID: d.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.CreateUser(ctx, u, d, s); err != nil {
			t.Fatal(err)
		}
		devices = append(devices, d.ID)
	}
	conv := store.Conversation{ID: "c", GroupID: []byte("g"), Kind: store.KindGroup, CreatedAt: now}
	if err := st.CreateConversation(ctx, conv, "u0", "d0"); err != nil {
		t.Fatal(err)
	}
	res, err := st.Post(ctx, []store.Post{{ID: "add", Kind: store.EnvelopeCommit, ConversationID: "c", GroupID: conv.GroupID,
		SenderDeviceID: "d0", Added: devices[1:], Payload: []byte("commit")}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	for _, d := range devices[1:] {
		if _, err := st.Ack(ctx, d, 1); err != nil && !errors.Is(err, store.ErrUnknownCursor) {
			t.Fatal(err)
		}
	}
	if _, err := st.Ack(ctx, "d0", 1); err != nil {
		t.Fatal(err)
	}
	conv.Epoch = 1
	return conv, "d0", devices[1:]
}

// TestGroupCommitDrainsOnClose: closing the writer while posts are in
// flight answers every caller: a post is either stored and acknowledged,
// or refused with errShuttingDown, never lost or left waiting.
func TestGroupCommitDrainsOnClose(t *testing.T) {
	cq := &countingQueues{pause: 5 * time.Millisecond, stored: map[string]bool{}}
	c := newCommitter(cq, NewLocalNotifier(), 16, slog.New(slog.DiscardHandler))
	const n = 200
	var wg sync.WaitGroup
	acked := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, err := c.submit(context.Background(), store.Post{ID: fmt.Sprint(i)})
			acked[i], errs[i] = err == nil, err
		})
	}
	time.Sleep(20 * time.Millisecond)
	done := make(chan struct{})
	go func() { c.close(); wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("close or a caller hung")
	}
	count := 0
	for i := range n {
		switch {
		case acked[i] && !cq.stored[fmt.Sprint(i)]:
			t.Fatalf("post %d acknowledged but not stored", i)
		case !acked[i] && !errors.Is(errs[i], errShuttingDown):
			t.Fatalf("post %d: %v", i, errs[i])
		case acked[i]:
			count++
		}
	}
	if count == 0 {
		t.Error("nothing was stored before close")
	}
	if _, err := c.submit(context.Background(), store.Post{ID: "late"}); !errors.Is(err, errShuttingDown) {
		t.Errorf("submit after close: %v, want errShuttingDown", err)
	}
}

// FuzzCheckMessage: the server's reading of MLS framing never panics, and
// what it accepts is what it claims.
func FuzzCheckMessage(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0}, uint64(3))
	f.Add([]byte{0, 1, 0, 1}, uint64(0))
	f.Add([]byte{}, uint64(0))
	f.Add([]byte{0, 1, 0, 2, 0x40, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0}, uint64(3)) // non-minimal length
	f.Add([]byte{0, 1, 0, 2, 0x80, 0, 0, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0}, uint64(3))
	f.Add([]byte{0, 1, 0, 2, 0x81, 0, 0, 0, 'g', 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0}, uint64(3)) // over the vector bound
	f.Add([]byte{0, 1, 0, 2, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 0}, uint64(3))          // trailing byte
	f.Fuzz(func(t *testing.T, data []byte, epoch uint64) {
		// checkApplication accepts exactly the application messages of
		// epoch that mls.ParseMLSMessage decodes, with their group id.
		g, err := checkApplication(data, epoch)
		m, perr := mls.ParseMLSMessage(data)
		want := perr == nil && m.PrivateMessage != nil && m.PrivateMessage.ContentType == mls.ContentApplication &&
			m.PrivateMessage.Epoch == epoch
		if (err == nil) != want || (want && string(m.PrivateMessage.GroupID) != string(g)) {
			t.Fatalf("checkApplication(%x, %d) = %x, %v; mls.ParseMLSMessage: %v", data, epoch, g, err, perr)
		}
		for _, ct := range []mls.ContentType{mls.ContentCommit, mls.ContentProposal} {
			if _, err := checkHandshake(data, ct, epoch, "x"); err == nil {
				if _, perr := mls.ParseMLSMessage(data); perr != nil {
					t.Fatalf("accepted %x as handshake: %v", data, perr)
				}
			}
		}
	})
}

// BenchmarkGroupCommitSQLite: posts through the group-commit writer into
// SQLite (WAL, synchronous=FULL), without HTTP; each post is queued for
// two devices.
//
//	go test ./server -run '^$' -bench GroupCommitSQLite -benchtime 20000x
func BenchmarkGroupCommitSQLite(b *testing.B) {
	for _, batch := range []int{1, 512} {
		b.Run(fmt.Sprint("batch-", batch), func(b *testing.B) {
			st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			conv, sender, _ := seedConversation(b, st, 2)
			cq := &countingQueues{Queues: st}
			c := newCommitter(cq, NewLocalNotifier(), batch, slog.New(slog.DiscardHandler))
			defer c.close()
			var seq atomic.Int64
			b.SetParallelism(128)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					p := store.Post{ID: fmt.Sprint("m", i), Kind: store.EnvelopeApplication, ConversationID: conv.ID,
						GroupID: conv.GroupID, Epoch: conv.Epoch, SenderDeviceID: sender, ClientMessageID: []byte(fmt.Sprint(i)),
						Payload: make([]byte, 200), MaxQueue: 1 << 40}
					if _, err := c.submit(context.Background(), p); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "posts/s")
			b.ReportMetric(float64(b.N)/float64(len(cq.batches)), "posts/batch")
		})
	}
}

// funcQueues is a store.Queues whose Write is fn.
type funcQueues struct {
	store.Queues
	fn func(posts []store.Post, acks []store.AckRequest) ([]store.PostResult, []store.AckResult, error)
}

func (f funcQueues) Write(_ context.Context, posts []store.Post, acks []store.AckRequest) ([]store.PostResult, []store.AckResult, error) {
	return f.fn(posts, acks)
}

// TestGroupCommitAcks: acks ride the writer's batches with the posts;
// each caller is answered only after its own batch's Write returned, with
// its own result; an ack of a batch that failed is retried alone, and
// fails when that fails too.
func TestGroupCommitAcks(t *testing.T) {
	errDisk := errors.New("disk on fire")
	tests := []struct {
		name    string
		fail    int // Writes that fail before the rest succeed
		wantErr error
	}{
		{"committed", 0, nil},
		{"batch fails, alone succeeds", 1, nil},
		{"batch and alone fail", 2, errDisk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entered, gate := make(chan struct{}, 8), make(chan struct{})
			var mu sync.Mutex
			var calls [][2]int
			q := funcQueues{fn: func(posts []store.Post, acks []store.AckRequest) ([]store.PostResult, []store.AckResult, error) {
				entered <- struct{}{}
				<-gate
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, [2]int{len(posts), len(acks)})
				if len(calls) <= tc.fail {
					return nil, nil, errDisk
				}
				out := make([]store.AckResult, len(acks))
				for i, a := range acks {
					out[i].Removed = int64(a.Cursor)
					if a.Cursor == 0 {
						out[i] = store.AckResult{Err: store.ErrUnknownCursor}
					}
				}
				return make([]store.PostResult, len(posts)), out, nil
			}}
			c := newCommitter(q, NewLocalNotifier(), 16, slog.New(slog.DiscardHandler))
			defer c.close()
			type answer struct {
				res store.AckResult
				err error
			}
			answers := make(chan answer, 1)
			go func() {
				res, err := c.submitAck(t.Context(), store.AckRequest{DeviceID: "d", Cursor: 7})
				answers <- answer{res, err}
			}()
			<-entered // the writer holds the ack in a Write that has not returned
			select {
			case a := <-answers:
				t.Fatalf("ack answered before its batch was written: %+v", a)
			default:
			}
			close(gate)
			a := <-answers
			if !errors.Is(a.err, tc.wantErr) || (tc.wantErr == nil && (a.err != nil || a.res.Removed != 7)) {
				t.Errorf("submitAck = %+v, %v; want removed 7, %v", a.res, a.err, tc.wantErr)
			}
			if _, err := c.submitAck(t.Context(), store.AckRequest{DeviceID: "d"}); tc.fail == 0 && !errors.Is(err, store.ErrUnknownCursor) {
				t.Errorf("ack of cursor 0: %v, want ErrUnknownCursor", err)
			}
		})
	}
}

// TestGroupCommitAcksWithPosts: on a real store, posts and acks handed
// over together are written in shared batches and each gets its result.
func TestGroupCommitAcksWithPosts(t *testing.T) {
	st, cq, c := sqliteCommitter(t)
	conv, sender, recipients := seedConversation(t, st, 2)
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := store.Post{ID: fmt.Sprint("m", i), Kind: store.EnvelopeApplication, ConversationID: conv.ID,
				GroupID: conv.GroupID, Epoch: conv.Epoch, SenderDeviceID: sender, ClientMessageID: []byte(fmt.Sprint(i)),
				Payload: []byte("ciphertext"), MaxQueue: 10000}
			if _, err := c.submit(t.Context(), p); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	removed := make([]atomic.Int64, len(recipients))
	for i := range n {
		for j, d := range recipients {
			wg.Go(func() {
				res, err := c.submitAck(t.Context(), store.AckRequest{DeviceID: d, Cursor: uint64(i + 1)})
				if err != nil {
					t.Error(err)
				}
				removed[j].Add(res.Removed)
			})
		}
	}
	wg.Wait()
	for j, d := range recipients {
		if got := removed[j].Load(); got != n {
			t.Errorf("%s: acks removed %d envelopes, want %d", d, got, n)
		}
		if l, err := st.QueueLength(t.Context(), d); err != nil || l != 0 {
			t.Errorf("%s: queue length %d, %v; want 0", d, l, err)
		}
	}
	if _, err := c.submitAck(t.Context(), store.AckRequest{DeviceID: recipients[0], Cursor: n + 1}); !errors.Is(err, store.ErrUnknownCursor) {
		t.Errorf("ack past the last cursor: %v, want ErrUnknownCursor", err)
	}
	if len(cq.batches) >= 3*n/2 {
		t.Errorf("%d batches for %d posts and %d acks: acks are not batched", len(cq.batches), n, 2*n)
	}
}

// sqliteCommitter is a committer over a fresh SQLite store, counting its
// batches; both are closed at cleanup.
func sqliteCommitter(t *testing.T) (*sqlite.Store, *countingQueues, *committer) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cq := &countingQueues{Queues: st}
	c := newCommitter(cq, NewLocalNotifier(), 512, slog.New(slog.DiscardHandler))
	t.Cleanup(c.close)
	return st, cq, c
}
