// Package username turns a user-typed searchable ID into its canonical form,
// or refuses it.
//
// The canonical form is what the server compares, indexes (through a keyed
// blind index) and shows back as "the username you registered". It is built
// in this order:
//
//  1. Input of more than MaxInputBytes bytes, or invalid UTF-8, is refused.
//  2. Unicode NFKC folds compatibility characters (fullwidth "ｓｅａ" -> "sea",
//     ligatures, superscripts).
//  3. The PRECIS UsernameCaseMapped profile (RFC 8265) maps width and case,
//     applies NFC and refuses code points outside the IdentifierClass
//     (spaces, symbols, controls, unassigned code points).
//  4. Every rune must be a letter, a decimal digit, "_", "." or "-"; a
//     combining mark is allowed only after a letter and only when it belongs
//     to a specific script (so that Inherited marks such as U+0308 cannot
//     decorate a Latin name into a look-alike). The name must begin with a
//     letter or digit and must not end with "_", "." or "-".
//  5. The length is MinRunes..MaxRunes runes.
//  6. One script per name. Runes of the Common script (ASCII digits, "_",
//     ".", "-") go with any script. Japanese may mix Han, Hiragana and
//     Katakana; Korean may mix Han and Hangul. Anything else that mixes
//     scripts (e.g. Cyrillic "а" U+0430 inside a Latin name) is refused as
//     confusable.
//  7. A name written only in Cyrillic or Greek letters that all look like
//     Latin letters (e.g. Cyrillic "сео") is refused as a whole-script
//     confusable. This list covers the common cases, not every one.
//
// Errors: ErrInvalid (length or characters) and ErrConfusable.
package username

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// Bounds on a username.
const (
	MaxInputBytes = 128 // on the wire, before normalisation
	MinRunes      = 3   // after normalisation
	MaxRunes      = 32  // after normalisation
)

// Sentinel errors that callers branch on.
var (
	// ErrInvalid: wrong length or a character outside the allowed set.
	ErrInvalid = errors.New("username: invalid")
	// ErrConfusable: mixed scripts, or a whole-script look-alike of Latin.
	ErrConfusable = errors.New("username: confusable")
)

// Normalize returns the canonical form of s, or an error wrapping ErrInvalid
// or ErrConfusable. The error text never contains s.
func Normalize(s string) (string, error) {
	if len(s) > MaxInputBytes || !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: too long or not UTF-8", ErrInvalid)
	}
	out, err := precis.UsernameCaseMapped.String(norm.NFKC.String(s))
	if err != nil {
		return "", fmt.Errorf("%w: disallowed character", ErrInvalid)
	}
	if err := checkRunes(out); err != nil {
		return "", err
	}
	if err := checkScripts(out); err != nil {
		return "", err
	}
	return out, nil
}

// checkRunes enforces the character set and the length in runes.
func checkRunes(s string) error {
	n := utf8.RuneCountInString(s)
	if n < MinRunes || n > MaxRunes {
		return fmt.Errorf("%w: length must be %d..%d characters", ErrInvalid, MinRunes, MaxRunes)
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if isPunct(first) || isPunct(last) {
		return fmt.Errorf("%w: must begin and end with a letter or digit", ErrInvalid)
	}
	prevLetter := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.Is(unicode.Nd, r):
			prevLetter = unicode.IsLetter(r)
			continue
		case isPunct(r):
		case unicode.IsMark(r) && prevLetter && scriptOf(r) != "":
			continue
		default:
			return fmt.Errorf("%w: disallowed character", ErrInvalid)
		}
		prevLetter = false
	}
	return nil
}

func isPunct(r rune) bool { return r == '_' || r == '.' || r == '-' }

// scriptOf names the specific script of r, or "" for Common and Inherited
// runes (digits, punctuation, generic combining marks).
func scriptOf(r rune) string {
	for name, table := range unicode.Scripts {
		if name == "Common" || name == "Inherited" {
			continue
		}
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

// checkScripts refuses mixed-script names and whole-script look-alikes.
func checkScripts(s string) error {
	scripts := map[string]bool{}
	for _, r := range s {
		if name := scriptOf(r); name != "" {
			scripts[name] = true
		}
	}
	if len(scripts) > 1 && !allowedMix(scripts) {
		return fmt.Errorf("%w: mixes scripts", ErrConfusable)
	}
	if wholeScriptLatinLookalike(s, scripts) {
		return fmt.Errorf("%w: looks like a Latin name", ErrConfusable)
	}
	return nil
}

// allowedMix reports whether scripts is a set that may share one name:
// Japanese (Han, Hiragana, Katakana) or Korean (Han, Hangul).
func allowedMix(scripts map[string]bool) bool {
	japanese, korean := true, true
	for name := range scripts {
		japanese = japanese && (name == "Han" || name == "Hiragana" || name == "Katakana")
		korean = korean && (name == "Han" || name == "Hangul")
	}
	return japanese || korean
}

// latinLookalikes are lower-case Cyrillic and Greek letters that render like
// Latin letters in common fonts.
const latinLookalikes = "аеорсухіјѕԁԛԝһӏвкмнт" + // Cyrillic
	"αβειικνορτυχ" // Greek

// wholeScriptLatinLookalike reports whether every letter of a Cyrillic or
// Greek name has a Latin look-alike.
func wholeScriptLatinLookalike(s string, scripts map[string]bool) bool {
	if len(scripts) != 1 || !(scripts["Cyrillic"] || scripts["Greek"]) {
		return false
	}
	for _, r := range s {
		if unicode.IsLetter(r) && !containsRune(latinLookalikes, r) {
			return false
		}
	}
	return true
}

func containsRune(set string, r rune) bool {
	for _, c := range set {
		if c == r {
			return true
		}
	}
	return false
}
