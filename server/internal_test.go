package server

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	sealinev1 "github.com/sealine/sealine/api/sealine/v1"
)

func TestLimiter(t *testing.T) {
	l := newLimiter(2, time.Second)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"a", 0, true},
		{"a", 0, false},
		{"b", 0, true}, // buckets are per key
		{"a", 500 * time.Millisecond, false},
		{"a", time.Second, true},
		{"a", time.Second, false},
		{"a", 10 * time.Second, true}, // refills to the burst, not beyond
		{"a", 10 * time.Second, true},
		{"a", 10 * time.Second, false},
	}
	for i, s := range steps {
		ok, next := l.allow(s.key, t0.Add(s.at))
		if ok != s.want {
			t.Fatalf("step %d: allow = %v, want %v", i, ok, s.want)
		}
		if !ok && !next.After(t0.Add(s.at)) {
			t.Fatalf("step %d: retry at %v is not in the future", i, next)
		}
	}
}

func TestDeviceEvents(t *testing.T) {
	a, b, c := &sealinev1.Device{Id: "a"}, &sealinev1.Device{Id: "b"}, &sealinev1.Device{Id: "c"}
	got := deviceEvents([]*sealinev1.Device{a, b}, []*sealinev1.Device{b, c})
	if len(got) != 2 ||
		got[0].GetKind() != sealinev1.WatchDevicesResponse_KIND_DEVICE_ADDED || got[0].GetDevice().GetId() != "c" ||
		got[1].GetKind() != sealinev1.WatchDevicesResponse_KIND_DEVICE_REVOKED || got[1].GetDevice().GetId() != "a" {
		t.Fatalf("events = %v", got)
	}
	if len(deviceEvents([]*sealinev1.Device{a}, []*sealinev1.Device{a})) != 0 {
		t.Fatal("events without change")
	}
}

func TestConfigChecks(t *testing.T) {
	tests := []struct {
		db   string
		kind string
		err  error
	}{
		{"", "sqlite", nil},
		{"sqlite:/tmp/x.db", "sqlite", nil},
		{"sqlite:", "", ErrBadDB},
		{"postgres://u@h/db", "postgres", nil},
		{"postgresql://u@h/db", "postgres", nil},
		{"mysql://u@h/db", "", ErrBadDB},
		{"/tmp/x.db", "", ErrBadDB},
	}
	for _, tt := range tests {
		kind, err := dbKind(tt.db)
		if kind != tt.kind || !errors.Is(err, tt.err) {
			t.Errorf("dbKind(%q) = %q, %v", tt.db, kind, err)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:9090": true, "[::1]:9090": true, "localhost:9090": true,
		"0.0.0.0:9090": false, ":9090": false, "10.0.0.1:9090": false, "example.com:9090": false, "127.0.0.1": false,
	} {
		if isLoopback(addr) != want {
			t.Errorf("isLoopback(%q) = %v", addr, !want)
		}
	}
}

// FuzzTokenHash checks that the bearer header parser never panics and only
// accepts canonical "Bearer <43 base64url chars>" headers.
func FuzzTokenHash(f *testing.F) {
	f.Add("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("bearer x")
	f.Fuzz(func(t *testing.T, header string) {
		h := http.Header{}
		h.Set("Authorization", header)
		hash, ok := tokenHash(h)
		if !ok {
			return
		}
		if len(hash) != 32 || len(header) != len("Bearer ")+43 {
			t.Fatalf("accepted %q", header)
		}
		if !bytes.HasPrefix([]byte(header), []byte("Bearer ")) {
			t.Fatalf("accepted %q without the scheme", header)
		}
	})
}

// FuzzCodec checks that the marking codecs never fail or panic, that a
// request either decodes as proto.Unmarshal would or is refused with a
// reason, and that nothing over 64 KiB gets through.
func FuzzCodec(f *testing.F) {
	ok, _ := proto.Marshal(&sealinev1.RegisterRequest{Username: "alice", Password: "pw", Device: &sealinev1.NewDevice{Name: "x"}})
	f.Add(ok, false)
	f.Add([]byte{0xff, 0xff}, false)
	f.Add([]byte(`{"username":"alice"}`), true)
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		var cd codec
		if json {
			cd = jsonCodec("json")
		} else {
			cd = protoCodec()
		}
		var got sealinev1.RegisterRequest
		if err := cd.Unmarshal(data, &got); err != nil {
			t.Fatalf("Unmarshal failed: %v", err)
		}
		refused := decodeError(&got) != nil
		var want sealinev1.RegisterRequest
		wantErr := cd.unmarshal(data, &want)
		if wantErr != nil || len(data) > maxRequestBytes {
			if !refused {
				t.Fatal("bad input not refused")
			}
			return
		}
		if !refused && !proto.Equal(&got, &want) {
			t.Fatal("decoded differently from the plain decoder")
		}
	})
}

func TestLocalNotifier(t *testing.T) {
	n := NewLocalNotifier()
	a, cancelA := n.Subscribe("u1")
	b, cancelB := n.Subscribe("u1")
	other, cancelOther := n.Subscribe("u2")
	defer cancelOther()
	n.Notify("u1")
	n.Notify("u1") // coalesces: never blocks
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("subscriber not woken")
		}
	}
	select {
	case <-other:
		t.Fatal("another user's subscriber woken")
	default:
	}
	cancelA()
	cancelB()
	if len(n.subs) != 1 {
		t.Fatalf("%d users subscribed after cancel; want 1", len(n.subs))
	}
}
