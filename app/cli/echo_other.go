//go:build !linux

package cli

// echoOff does nothing where the product does not run in production;
// term.ReadPassword still turns echo off while it reads.
func echoOff(int) (restore func(), err error) { return func() {}, nil }
