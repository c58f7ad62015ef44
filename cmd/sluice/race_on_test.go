//go:build race

package main

// raceEnabled builds the binary under test with -race when the tests run
// with -race, so that the server process is checked too.
const raceEnabled = true
