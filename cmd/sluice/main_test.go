package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the sluice binary built for these tests.
var binary string

const testVersion = "v0.0.0-test"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "sluice")
	args := []string{"build", "-o", binary, "-ldflags", "-X main.version=" + testVersion}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sluice:", err)
		return 1
	}
	return m.Run()
}

// cleanEnv is the environment without SLUICE_* variables, plus extra.
func cleanEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// runCLI runs the binary to completion and returns its output and exit code.
func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = cleanEnv(env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run sluice %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// proc is a running `sluice serve`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	logs   *syncBuffer
	stdout *syncBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe starts `sluice serve` on a free port of 127.0.0.1 with dataDir
// and waits until it prints its URL and answers /readyz.
func startServe(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--data", dataDir, "--drain-timeout", "2s")
	cmd.Env = cleanEnv(env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, logs: &syncBuffer{}, stdout: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sluice serve: %v", err)
	}
	urls := make(chan string, 1)
	// The reader ends when the process closes its stdout, that is when it
	// exits; Wait runs after it, as exec requires.
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.stdout.Write([]byte(line + "\n"))
			if _, u, ok := strings.Cut(line, " is running at "); ok {
				select {
				case urls <- strings.TrimSpace(u):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("sluice serve stdout:\n%s\nsluice serve logs:\n%s", p.stdout.String(), p.logs.String())
		}
	})
	select {
	case p.url = <-urls:
	case <-p.exited:
		t.Fatalf("sluice serve exited: %v\nlogs:\n%s", p.err, p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice serve printed no URL within 60s\nlogs:\n%s", p.logs.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice serve not ready within 30s (last: %v)\nlogs:\n%s", err, p.logs.String())
		}
		select {
		case <-p.exited:
			t.Fatalf("sluice serve exited: %v\nlogs:\n%s", p.err, p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGINT and waits for a graceful exit (SIGKILL after 30s).
// It returns the exit error (nil on exit code 0).
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("sluice serve did not stop within 30s of SIGINT")
	}
	return p.err
}

// client talks JSON to a server.
type client struct {
	t     *testing.T
	base  string
	token string
}

// do sends a request (body: nil, a string sent as is, or a value sent as
// JSON), checks the status and decodes the answer into out when not nil.
func (c *client) do(method, path string, body any, want int, out any, hdr ...string) (http.Header, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.Header, b
}

// login returns a client logged in as admin.
func login(t *testing.T, base, password string) *client {
	t.Helper()
	c := &client{t: t, base: base}
	var ans struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	c.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": password}, http.StatusOK, &ans)
	if ans.Token == "" || ans.ExpiresAt.Before(time.Now()) {
		t.Fatalf("login answer %+v", ans)
	}
	c.token = ans.Token
	return c
}
