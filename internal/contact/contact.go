// Package contact normalises the optional contact attributes of an
// account, so that one phone number or email address always gives the
// same blind index however it was typed.
//
// Phone numbers become E.164: "+" followed by 8..15 digits, the first not
// 0. Spaces, dashes, dots and parentheses between digits are dropped;
// anything else (letters, a missing "+", a second "+") is refused, so a
// national number is never guessed into the wrong country.
//
// Email addresses are parsed by net/mail as a bare addr-spec (no display
// name, no angle brackets), at most 254 bytes, with a domain holding a dot,
// and lower-cased whole: lower-casing the local part too may merge two
// mailboxes of a rare case-sensitive server, which is the safer error for
// contact matching than missing a match.
package contact

import (
	"errors"
	"net/mail"
	"strings"
)

// Sentinel errors that callers branch on.
var (
	ErrPhone = errors.New("contact: phone number must be E.164: '+' and 8 to 15 digits")
	ErrEmail = errors.New("contact: malformed email address")
)

// Bounds on the input, before normalisation.
const (
	MaxPhoneInput = 32
	MaxEmailBytes = 254
	minDigits     = 8
	maxDigits     = 15
)

// NormalizePhone returns the E.164 form of a phone number.
func NormalizePhone(s string) (string, error) {
	if len(s) > MaxPhoneInput {
		return "", ErrPhone
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "+")
	if !ok {
		return "", ErrPhone
	}
	digits := make([]byte, 0, maxDigits)
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", ErrPhone
		}
	}
	if len(digits) < minDigits || len(digits) > maxDigits || digits[0] == '0' {
		return "", ErrPhone
	}
	return "+" + string(digits), nil
}

// NormalizeEmail returns the lower-cased address.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxEmailBytes {
		return "", ErrEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", ErrEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
		return "", ErrEmail
	}
	return strings.ToLower(s), nil
}
