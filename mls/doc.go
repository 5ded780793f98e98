// Package mls implements the core of Messaging Layer Security, RFC 9420:
// the wire codec, cipher suites, ratchet tree and TreeKEM, key schedule,
// secret tree and message framing. It is pure: no I/O, no goroutines, no
// clock and no randomness of its own. Randomness comes in as an io.Reader
// and time as an argument, so tests are deterministic.
//
// The full description of the wire format and of what each check protects
// against is kept in this comment as the package grows.
package mls
