// Package testnet holds network fakes for tests. It imports nothing of
// Sealine, so any package's tests can use it.
package testnet

import (
	"net"
	"testing"
)

// SilentListener accepts TCP connections on a loopback port and never
// answers, like a database behind a firewall that drops packets; it
// returns host:port and closes everything when t ends.
func SilentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().String()
}
