package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/client/localstore"
)

// Usernames of other users.
//
// A device learns a username when it claims that user's KeyPackages
// (keypackages.go). A device that someone else added to a conversation
// sees the other members only as user ids, in their MLS credentials. So
// the Messenger notes the user ids of every event it emits; those with no
// known username are queued, and a goroutine (started with the first
// queued id, stopped by Close) looks them up with UserService.LookupUsers,
// up to 100 a request, and keeps the answers with localstore's PutUser.
// Username and localstore's UserID then know them. The server answers
// only for this user and users who share a conversation with it; an id it
// leaves out is not asked again by this Messenger. ResolveUsernames does
// the same at once, for callers that print names right away.
//
// The names come from the server, which is the Authentication Service
// binding user ids to accounts (as it does for KeyPackage claims).

// Request bounds of LookupUsers (account.proto), and how long a failed
// lookup waits before it is retried (unless the server says when).
const (
	maxLookupIDs   = 100
	maxUserIDBytes = 64
	lookupRetry    = 10 * time.Second
	maxLookupWait  = 5 * time.Minute
)

// UserInfo is what the server tells about a user.
type UserInfo struct {
	ID          string
	Username    string
	DisplayName string
}

// LookupUsers asks the server for the usernames and display names of
// user ids, 100 to a request. The result holds only the ids the server
// answered for: this account's own and those of users who share a
// conversation with it. Unknown, withdrawn and other users are left out,
// without an error.
func (c *Client) LookupUsers(ctx context.Context, ids ...string) (map[string]UserInfo, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == "" })
	users := sealinev1connect.NewUserServiceClient(c.hc, c.server, connect.WithReadMaxBytes(maxResponseBytes))
	out := map[string]UserInfo{}
	for batch := range slices.Chunk(ids, maxLookupIDs) {
		req := connect.NewRequest(&sealinev1.LookupUsersRequest{UserIds: batch})
		resp, err := call(ctx, c, req, users.LookupUsers)
		if err != nil {
			return nil, err
		}
		for _, u := range resp.GetUsers() {
			if id := u.GetUserId(); u.GetUsername() != "" && slices.Contains(batch, id) {
				out[id] = UserInfo{ID: id, Username: u.GetUsername(), DisplayName: u.GetDisplayName()}
			}
		}
	}
	return out, nil
}

// lookups is the Messenger's queue of user ids to name. The zero value
// is ready.
type lookups struct {
	flush sync.Mutex // held by the one lookup running

	mu      sync.Mutex // guards the fields below
	seen    map[string]bool
	pending []string
	retryAt time.Time // no request before (wall clock), after a failure
	wake    chan struct{}
	cancel  context.CancelFunc // set while the goroutine runs
	done    chan struct{}
	stopped bool
}

// eventUsers returns the user ids an event names.
func eventUsers(ev Event) []string {
	switch ev := ev.(type) {
	case *MessageEvent:
		return []string{ev.Message.From.UserID}
	case *ReceiptEvent:
		return []string{ev.From.UserID}
	case *TypingEvent:
		return []string{ev.From.UserID}
	case *JoinedEvent:
		return []string{ev.Peer, ev.By.UserID}
	case *MemberEvent:
		out := []string{ev.By.UserID}
		for _, a := range ev.Added {
			out = append(out, a.UserID)
		}
		return out
	case *LeftEvent:
		return []string{ev.By.UserID}
	case *RenamedEvent:
		return []string{ev.By.UserID}
	}
	return nil
}

// noteUsers queues the user ids of ev that have no known username and
// wakes the lookup goroutine. It does not wait for the lookup.
func (m *Messenger) noteUsers(ev Event) {
	if m.queueUsers(eventUsers(ev)) > 0 {
		m.users.start(m.lookupLoop)
	}
}

// queueUsers queues the ids not yet known, queued or tried, and returns
// how many it queued.
func (m *Messenger) queueUsers(ids []string) int {
	fresh := m.users.unseen(ids, m.me.UserID)
	if len(fresh) == 0 {
		return 0
	}
	var unknown []string
	err := m.store.View(func(tx *localstore.Tx) error {
		for _, id := range fresh {
			if _, err := tx.Username(id); err != nil {
				unknown = append(unknown, id)
			}
		}
		return nil
	})
	if err != nil {
		m.users.forget(fresh)
		return 0
	}
	m.users.enqueue(unknown)
	return len(unknown)
}

// ResolveUsernames looks up now the usernames of ids (and of every id
// queued from events) that this device does not know yet, and keeps them,
// so that Username returns them afterwards. Ids the server leaves out are
// not asked again by this Messenger.
func (m *Messenger) ResolveUsernames(ctx context.Context, ids ...string) error {
	m.queueUsers(ids)
	return m.flushLookups(ctx)
}

// flushLookups looks up every queued id, 100 to a request. After a
// failure the ids stay queued, and no request is made before the server's
// retry_after (or lookupRetry) has passed: flushLookups then returns
// ErrRateLimited at once. A refusal that a retry cannot fix (the session
// is gone) drops the ids instead.
func (m *Messenger) flushLookups(ctx context.Context) error {
	m.users.flush.Lock()
	defer m.users.flush.Unlock()
	for {
		if wait := m.users.backoff(); wait > 0 {
			return fmt.Errorf("username lookup: %w (retry in %v)", ErrRateLimited, wait.Round(time.Second))
		}
		batch := m.users.take(maxLookupIDs)
		if len(batch) == 0 {
			return nil
		}
		if err := m.lookupBatch(ctx, batch); err != nil {
			if errors.Is(err, ErrSessionInvalid) || errors.Is(err, ErrNotLoggedIn) || errors.Is(err, ErrInvalidInput) {
				m.users.forget(batch) // asked again when they next appear
			} else {
				m.users.requeue(batch, m.retryWait(err))
			}
			return err
		}
	}
}

// lookupBatch looks batch up and keeps the usernames found.
func (m *Messenger) lookupBatch(ctx context.Context, batch []string) error {
	found, err := m.c.LookupUsers(ctx, batch...)
	if err != nil {
		return err
	}
	return m.store.Update(func(tx *localstore.Tx) error {
		for id, u := range found {
			if err := tx.PutUser(id, u.Username); err != nil {
				return err
			}
		}
		return nil
	})
}

// retryWait is how long to wait after err: the server's retry_after
// (measured on the Messenger's clock), else lookupRetry.
func (m *Messenger) retryWait(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && !e.RetryAfter.IsZero() {
		return min(max(e.RetryAfter.Sub(m.now()), time.Second), maxLookupWait)
	}
	return lookupRetry
}

// lookupLoop runs the queued lookups until ctx ends, retrying failed ones
// after their wait.
func (m *Messenger) lookupLoop(ctx context.Context, wake <-chan struct{}) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-retry:
		}
		retry = nil
		if m.flushLookups(ctx) != nil && ctx.Err() == nil {
			if wait := m.users.backoff(); wait > 0 {
				retry = time.After(wait)
			}
		}
	}
}

// unseen returns the ids of bounded size, other than me, not yet known,
// queued or tried, and marks them seen.
func (l *lookups) unseen(ids []string, me string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	var out []string
	for _, id := range ids {
		if id == "" || id == me || len(id) > maxUserIDBytes || l.seen[id] {
			continue
		}
		l.seen[id] = true
		out = append(out, id)
	}
	return out
}

// forget unmarks ids, so that they are looked up when seen again.
func (l *lookups) forget(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		delete(l.seen, id)
	}
}

func (l *lookups) enqueue(ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, ids...)
}

// requeue puts a failed batch back in front and holds requests for wait.
func (l *lookups) requeue(ids []string, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(slices.Clone(ids), l.pending...)
	l.retryAt = time.Now().Add(wait)
}

// backoff is how long requests are still held after a failure.
func (l *lookups) backoff() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Until(l.retryAt)
}

// take removes and returns up to n queued ids.
func (l *lookups) take(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, len(l.pending))
	out := slices.Clone(l.pending[:n])
	l.pending = slices.Delete(l.pending, 0, n)
	return out
}

// start wakes the lookup goroutine, starting it the first time.
func (l *lookups) start(loop func(context.Context, <-chan struct{})) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	if l.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		wake, done := make(chan struct{}, 1), make(chan struct{})
		l.cancel, l.wake, l.done = cancel, wake, done
		go func() {
			defer close(done)
			loop(ctx, wake)
		}()
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// stop ends the lookup goroutine and waits for it; none starts afterwards.
func (l *lookups) stop() {
	l.mu.Lock()
	l.stopped = true
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
