package username

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"ascii", "alice", "alice", nil},
		{"case folded", "Alice.Smith", "alice.smith", nil},
		{"fullwidth", "ａｌｉｃｅ", "alice", nil},
		{"digits and punctuation", "bob_2-x.y", "bob_2-x.y", nil},
		{"min length", "abc", "abc", nil},
		{"max length", strings.Repeat("a", 32), strings.Repeat("a", 32), nil},
		{"cyrillic name", "Дмитрий", "дмитрий", nil},
		{"greek name", "Σωκράτης", "σωκράτης", nil},
		{"japanese mix", "山田たろう", "山田たろう", nil},
		{"korean mix", "김민준", "김민준", nil},
		{"devanagari with marks", "नमस्ते", "नमस्ते", nil},
		{"latin with digits", "neo2026", "neo2026", nil},
		{"empty", "", "", ErrInvalid},
		{"too short", "ab", "", ErrInvalid},
		{"too long", strings.Repeat("a", 33), "", ErrInvalid},
		{"too many bytes", strings.Repeat("a", 129), "", ErrInvalid},
		{"space", "al ice", "", ErrInvalid},
		{"at sign", "al@ice", "", ErrInvalid},
		{"emoji", "alice😀", "", ErrInvalid},
		{"control", "ali\x00ce", "", ErrInvalid},
		{"only punctuation", "...", "", ErrInvalid},
		{"leading dot", ".alice", "", ErrInvalid},
		{"trailing dash", "alice-", "", ErrInvalid},
		{"digits only", "123", "123", nil},
		{"invalid utf8", "ali\xffce", "", ErrInvalid},
		{"inherited mark on latin", "alice\u0308\u0308", "", ErrInvalid},
		{"leading mark", "\u093fabc", "", ErrInvalid},
		{"cyrillic a in latin", "p\u0430ypal", "", ErrConfusable},
		{"greek omicron in latin", "g\u03bfogle", "", ErrConfusable},
		{"latin and han", "abc山田", "", ErrConfusable},
		{"whole-script cyrillic lookalike", "\u0441\u0435\u043e", "", ErrConfusable},
		{"whole-script greek lookalike", "\u03bf\u03ba\u03bf", "", ErrConfusable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Normalize(%q) = %q, %v; want error %v", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestErrorHidesInput(t *testing.T) {
	in := "secret name with spaces"
	_, err := Normalize(in)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v leaks the input", err)
	}
}

// FuzzNormalize checks that Normalize never panics, that its output is
// stable (normalising twice changes nothing) and within the bounds.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"alice", "ＡＬＩＣＥ", "p\u0430ypal", "山田たろう", "", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrConfusable) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n := utf8.RuneCountInString(out); n < MinRunes || n > MaxRunes {
			t.Fatalf("output length %d out of bounds", n)
		}
		again, err := Normalize(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}
