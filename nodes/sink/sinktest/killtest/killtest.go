// Package killtest drives the kill tests of the sink packages: a child
// process (this test binary started again) accepts items and prints each
// one it acknowledged; the test kills it with SIGKILL and checks that the
// sink, started again on the same spool, loses none. It imports nothing
// of the sinks, so that nodes/sink/batch's own tests can use it. Only
// tests import it.
package killtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// Main is the TestMain of a sink package with a kill test: when the
// environment names childEnv, the process is the kill test's child and
// runs child with its value; otherwise it runs the tests, failing if a
// goroutine outlives them.
func Main(m *testing.M, childEnv string, child func(value string)) {
	if v := os.Getenv(childEnv); v != "" {
		child(v)
		return
	}
	goleak.VerifyTestMain(m)
}

// Child is the body of a kill test's child process: setup opens what the
// child writes with and returns accept; accept is called with 0, 1, 2, ...
// and each i printed once it returned, until the parent kills the
// process. An error ends the process with status 2.
func Child(setup func() (accept func(i int) error, err error)) {
	accept, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		if err := accept(i); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(i) // acknowledged
	}
}

// Kill starts this test binary again as a kill test's child (env
// adds its settings, KEY=value), reads the items it acknowledges until
// more than least, kills it with SIGKILL and returns the last one
// acknowledged. what names the items in failures.
func Kill(t testing.TB, least int, what string, env ...string) (acked int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked = -1
	lines := bufio.NewScanner(out)
	for acked < least && lines.Scan() {
		if acked, err = strconv.Atoi(lines.Text()); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child said %q", lines.Text())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error says so
	if acked < least {
		t.Fatalf("the child acknowledged only %d %s", acked+1, what)
	}
	return acked
}
