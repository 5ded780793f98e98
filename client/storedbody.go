package client

import (
	"encoding/base64"
	"unicode/utf8"
)

// storedBody is the sealed JSON body of a stored message.
type storedBody struct {
	Text       string `json:"text,omitempty"`
	Attachment []byte `json:"attachment,omitempty"` // attachment.Metadata's encoding
	Outgoing   bool   `json:"outgoing,omitempty"`
}

// marshal encodes b as json.Marshal does, byte for byte, without
// reflection: every stored message goes through it.
func (b *storedBody) marshal() []byte {
	out := make([]byte, 0, len(`{"text":"","attachment":"","outgoing":true}`)+len(b.Text)+
		base64.StdEncoding.EncodedLen(len(b.Attachment)))
	out = append(out, '{')
	if b.Text != "" {
		out = appendJSONString(append(out, `"text":`...), b.Text)
	}
	if len(b.Attachment) > 0 {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"attachment":"`...)
		out = append(base64.StdEncoding.AppendEncode(out, b.Attachment), '"')
	}
	if b.Outgoing {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, `"outgoing":true`...)
	}
	return append(out, '}')
}

// appendJSONString appends s as encoding/json does: quote, backslash,
// control characters, <, >, & and U+2028/U+2029 escaped, and each byte of
// invalid UTF-8 replaced by U+FFFD.
func appendJSONString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && !jsonEscaped(c) {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1: // invalid: replaced below
			case r == '\u2028' || r == '\u2029':
				out = append(append(out, s[start:i]...), `\u202`...)
				out = append(out, hex[r&0xf])
				i += size
				start = i
				continue
			default:
				i += size
				continue
			}
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			if c < utf8.RuneSelf { // other control characters, <, >, &
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else { // a byte of invalid UTF-8
				out = append(out, `\ufffd`...)
			}
		}
		i++
		start = i
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

// jsonEscaped reports whether encoding/json escapes the ASCII byte c.
func jsonEscaped(c byte) bool {
	return c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&'
}
