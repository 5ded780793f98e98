package server

import "sync"

// Notifier carries hints that a user's devices or sessions changed. A hint
// holds no data: a woken stream re-reads the store, so a lost or spurious
// hint costs only latency. Today it is in-process; across nodes it will be
// NATS.
type Notifier interface {
	// Notify wakes every subscriber of userID. It never blocks.
	Notify(userID string)
	// Subscribe returns a channel that receives a value after each Notify
	// for userID (hints coalesce), and a func that ends the subscription.
	Subscribe(userID string) (wake <-chan struct{}, cancel func())
}

// LocalNotifier is the in-process Notifier.
type LocalNotifier struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewLocalNotifier returns an empty LocalNotifier.
func NewLocalNotifier() *LocalNotifier {
	return &LocalNotifier{subs: map[string]map[chan struct{}]struct{}{}}
}

// Notify implements Notifier.
func (n *LocalNotifier) Notify(userID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs[userID] {
		select {
		case ch <- struct{}{}:
		default: // a hint is already pending
		}
	}
}

// Subscribe implements Notifier.
func (n *LocalNotifier) Subscribe(userID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[userID] == nil {
		n.subs[userID] = map[chan struct{}]struct{}{}
	}
	n.subs[userID][ch] = struct{}{}
	return ch, func() { n.unsubscribe(userID, ch) }
}

func (n *LocalNotifier) unsubscribe(userID string, ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.subs[userID], ch)
	if len(n.subs[userID]) == 0 {
		delete(n.subs, userID)
	}
}
