package contact

import (
	"errors"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"+81 90-1234-5678", "+819012345678", nil},
		{"+1 (415) 555.0100", "+14155550100", nil},
		{" +4930123456 ", "+4930123456", nil},
		{"+12345678", "+12345678", nil},
		{"+123456789012345", "+123456789012345", nil},
		{"09012345678", "", ErrPhone},
		{"+1234567", "", ErrPhone},
		{"+1234567890123456", "", ErrPhone},
		{"+0123456789", "", ErrPhone},
		{"+81 90 CALL ME", "", ErrPhone},
		{"++819012345678", "", ErrPhone},
		{"+81９０12345678", "", ErrPhone},
		{"", "", ErrPhone},
		{"+1 234 567 890 123 456 789 000 000 000", "", ErrPhone},
	} {
		got, err := NormalizePhone(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"Alice.Example@Example.ORG", "alice.example@example.org", nil},
		{" bob+tag@mail.example.com ", "bob+tag@mail.example.com", nil},
		{"Alice <alice@example.org>", "", ErrEmail},
		{"<alice@example.org>", "", ErrEmail},
		{"alice@localhost", "", ErrEmail},
		{"alice@example.", "", ErrEmail},
		{"alice", "", ErrEmail},
		{"@example.org", "", ErrEmail},
		{"a@b@example.org", "", ErrEmail},
		{"", "", ErrEmail},
		{"alice@example.org, bob@example.org", "", ErrEmail},
	} {
		got, err := NormalizeEmail(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// FuzzNormalize: normalising never panics and is idempotent.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+81 90-1234-5678", "Alice@Example.org", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := NormalizePhone(s); err == nil {
			if again, err := NormalizePhone(p); err != nil || again != p {
				t.Fatalf("phone %q -> %q -> %q, %v", s, p, again, err)
			}
		}
		if e, err := NormalizeEmail(s); err == nil {
			if again, err := NormalizeEmail(e); err != nil || again != e {
				t.Fatalf("email %q -> %q -> %q, %v", s, e, again, err)
			}
		}
	})
}
