//go:build !race

package mls

// raceEnabled reports whether the tests run under the race detector,
// which slows the pure-Go P-384 and P-521 code by an order of magnitude.
const raceEnabled = false
