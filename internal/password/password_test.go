package password

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// cheap are test parameters: fast, but the same code path.
var cheap = Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := New(Config{Params: cheap})
	enc, err := h.Hash(ctx, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected encoding %q", enc)
	}
	tests := []struct {
		name     string
		password string
		want     error
	}{
		{"match", "correct horse", nil},
		{"mismatch", "correct horse!", ErrMismatch},
		{"empty", "", ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := h.Verify(ctx, []byte(tt.password), enc); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSaltIsFresh(t *testing.T) {
	h := New(Config{Params: cheap})
	a, _ := h.Hash(context.Background(), []byte("pw"))
	b, _ := h.Hash(context.Background(), []byte("pw"))
	if a == b {
		t.Fatal("two hashes of one password are equal")
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := New(Config{Params: cheap})
	enc, _ := old.Hash(ctx, []byte("pw"))
	stronger := cheap
	stronger.Time = 2
	tests := []struct {
		name   string
		params Params
		enc    string
		want   bool
	}{
		{"same params", cheap, enc, false},
		{"more passes", stronger, enc, true},
		{"malformed", cheap, "$argon2id$", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(Config{Params: tt.params}).NeedsRehash(tt.enc); got != tt.want {
				t.Fatalf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
	// An old hash still verifies under new parameters.
	if err := New(Config{Params: stronger}).Verify(ctx, []byte("pw"), enc); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeRejects(t *testing.T) {
	salt := "c2FsdHNhbHRzYWx0c2FsdA"
	key := "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"zero time", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"huge memory", "$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key},
		{"huge time", "$argon2id$v=19$m=64,t=65,p=1$" + salt + "$" + key},
		{"lanes 256", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key},
		{"memory below lanes", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"short salt", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"short hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$aGFzaA"},
		{"trailing field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$"},
		{"sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := Decode(tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode(%q) = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
}

func TestConcurrencyBound(t *testing.T) {
	h := New(Config{Params: cheap, MaxConcurrent: 1})
	h.sem <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, []byte("pw")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with full semaphore and cancelled ctx = %v", err)
	}
}

// FuzzDecode checks that Decode never panics, bounds what it accepts, and
// that Encode(Decode(x)) == x for every accepted x.
func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=2,p=2$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, in string) {
		p, salt, key, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind %v", err)
			}
			return
		}
		if p.MemoryKiB > maxMemoryKiB || p.Time > maxTime || len(salt) > maxSaltLen || len(key) > maxKeyLen {
			t.Fatalf("accepted out-of-bounds %+v", p)
		}
		if out := Encode(p, salt, key); out != in {
			t.Fatalf("round trip %q -> %q", in, out)
		}
	})
}

func BenchmarkHashDefault(b *testing.B) {
	h := New(Config{})
	for b.Loop() {
		if _, err := h.Hash(context.Background(), []byte("correct horse battery staple")); err != nil {
			b.Fatal(err)
		}
	}
}
