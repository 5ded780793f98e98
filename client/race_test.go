//go:build race

package client_test

// raceEnabled reports whether the tests run under the race detector,
// which makes MLS with hundreds of members about eight times slower.
const raceEnabled = true
