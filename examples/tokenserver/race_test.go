//go:build race

package main

// Under the race detector the end-to-end tests run a race-enabled server too.
func init() { buildFlags = append(buildFlags, "-race") }
