package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/sealine/sealine/api/sealine/v1/sealinev1connect"
	"github.com/sealine/sealine/client"
)

// user is one bench account with one device, driven through the SDK.
type user struct {
	name    string
	c       *client.Client
	capture *captureTransport
	raw     sealinev1connect.MessageServiceClient // for fast clients and idle streams
	token   string
	m       *client.Messenger

	cancel context.CancelFunc
	done   chan struct{}
	joined chan string // conversation ids joined from a Welcome
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newUser registers user i and opens its messenger with kps KeyPackages
// published; kps 0 opens no messenger.
func (e *env) newUser(ctx context.Context, i, kps int) (*user, error) {
	home := filepath.Join(e.homes, "u"+strconv.Itoa(i))
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, fmt.Errorf("bench: client home: %w", err)
	}
	hc := e.httpClient(i)
	ct := &captureTransport{base: hc.Transport}
	hc.Transport = ct
	c, err := client.New(client.Config{ServerURL: e.url, CAPEM: e.caPEM, HTTPClient: hc, Home: home, Timeout: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("bench: client: %w", err)
	}
	u := &user{name: e.prefix + "u" + strconv.Itoa(i), c: c, capture: ct, joined: make(chan string, 64)}
	s, err := c.Register(ctx, client.RegisterParams{Username: u.name, Password: e.password, DeviceName: "bench"})
	if err != nil {
		return nil, fmt.Errorf("bench: register %s: %w", u.name, err)
	}
	u.token = s.Token
	// No gzip: batches of ciphertext do not compress (client.streamOptions).
	u.raw = sealinev1connect.NewMessageServiceClient(hc, e.url, connect.WithInterceptors(bearer(s.Token)),
		connect.WithAcceptCompression("gzip", nil, nil))
	if kps == 0 {
		return u, nil
	}
	u.m, err = c.Messenger(client.MessengerConfig{KeyPackages: kps, MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second, EventBuffer: 4096})
	if err != nil {
		return nil, fmt.Errorf("bench: messenger: %w", err)
	}
	if _, err := u.m.TopUpKeyPackages(ctx); err != nil {
		return nil, fmt.Errorf("bench: key packages: %w", err)
	}
	return u, nil
}

// newUsers registers n users (ids from first) a few at a time.
func (e *env) newUsers(ctx context.Context, first, n, kps int) ([]*user, error) {
	users := make([]*user, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			users[i], errs[i] = e.newUser(ctx, first+i, kps)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			closeUsers(users)
			return nil, err
		}
	}
	return users, nil
}

// listen starts u's receive loop; each text message's latency goes to rec.
func (u *user) listen(rec *recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel, u.done = cancel, make(chan struct{})
	go func() { defer close(u.done); u.m.Run(ctx) }()
	go func() {
		for {
			select {
			case ev := <-u.m.Events():
				u.handle(ev, rec)
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (u *user) handle(ev client.Event, rec *recorder) {
	switch ev := ev.(type) {
	case *client.MessageEvent:
		if due, ok := parseStamp(ev.Message.Text); ok {
			rec.deliver(time.Since(due))
		}
	case *client.JoinedEvent:
		select {
		case u.joined <- ev.ConvID:
		default:
		}
	}
}

// stopListen stops the receive loop started by listen.
func (u *user) stopListen() {
	if u.cancel != nil {
		u.cancel()
		<-u.done
		u.cancel = nil
	}
}

func (u *user) close() {
	if u == nil {
		return
	}
	u.stopListen()
	if u.m != nil {
		u.m.Close()
	}
}

func closeUsers(us []*user) {
	for _, u := range us {
		u.close()
	}
}

// waitJoined waits until u has joined conv from a Welcome.
func (u *user) waitJoined(ctx context.Context, conv string) error {
	for {
		select {
		case id := <-u.joined:
			if id == conv {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %s did not join a conversation", ErrSetupTimeout, u.name)
		}
	}
}

// stamp makes a message text of size bytes that starts with the time it
// was due, in Unix nanoseconds.
func stamp(due time.Time, size int) string {
	s := strconv.FormatInt(due.UnixNano(), 10) + " "
	if size > len(s) {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

func parseStamp(text string) (time.Time, bool) {
	head, _, _ := strings.Cut(text, " ")
	n, err := strconv.ParseInt(head, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// bearer adds a session token to every request.
func bearer(token string) connect.Interceptor {
	return bearerInterceptor("Bearer " + token)
}

type bearerInterceptor string

func (b bearerInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", string(b))
		return next(ctx, req)
	}
}

func (b bearerInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", string(b))
		return conn
	}
}

func (b bearerInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
