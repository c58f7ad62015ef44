// Package influxtest starts a real InfluxDB 1.8 server (influxd) for a
// test: on free ports, in a temporary directory, stopped when the test
// ends. Outage tests kill it and start it again on the same port and data.
//
// The binary is influxd from PATH or from $(go env GOPATH)/bin, where
// deploy/tools/influxd.sh installs it. Without it a test is skipped, or
// fails when CI=true.
package influxtest

import (
	"bytes"
	"context"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the path of influxd, or "" when there is none.
func Binary() string {
	if p, err := exec.LookPath("influxd"); err == nil {
		return p
	}
	dirs := []string{os.Getenv("GOBIN")}
	for _, p := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, "influxd")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Need returns influxd's path; without it the test is skipped, or fails
// when CI=true.
func Need(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "influxd (InfluxDB 1.8.10) is not installed: run deploy/tools/influxd.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// Options of a test server.
type Options struct {
	// Auth turns authentication on, with the admin user "admin" whose
	// password is "secret" (Store's Token "admin:secret").
	Auth bool
}

// Server is an influxd of a test.
type Server struct {
	// URL is the HTTP API's address, e.g. http://127.0.0.1:41234.
	URL string
	// Dir holds the configuration, the data and the log.
	Dir string

	t    testing.TB
	bin  string
	opts Options
	// http keeps no idle connections: nothing outlives the test.
	http *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts influxd and waits until it answers; t.Cleanup stops it.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Need(t)
	s := &Server{Dir: t.TempDir(), t: t, bin: bin, opts: opts,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	httpPort, rpcPort := freePort(t), freePort(t)
	s.URL = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %q

[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[http]
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
  auth-enabled = %t

[logging]
  level = "warn"
`, rpcPort, filepath.Join(s.Dir, "meta"), filepath.Join(s.Dir, "data"), filepath.Join(s.Dir, "wal"), httpPort, opts.Auth)
	if err := os.WriteFile(filepath.Join(s.Dir, "influxd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.Restart()
	if opts.Auth {
		// The first user may be created without credentials.
		form := url.Values{"q": {`CREATE USER "admin" WITH PASSWORD 'secret' WITH ALL PRIVILEGES`}}
		resp, err := s.http.PostForm(s.URL+"/query", form)
		if err != nil {
			t.Fatalf("influxd: create the admin user: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("influxd: create the admin user: %s", resp.Status)
		}
	}
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Restart starts influxd (again, on the same ports and data) and waits
// until it answers /ping.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("influxd: already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.Dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "run", "-config", filepath.Join(s.Dir, "influxd.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("influxd: start: %v", err)
	}
	done := make(chan struct{})
	go func() { // ends when influxd does: Stop and Kill wait for it
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := s.http.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("influxd exited before answering:\n%s", s.tail())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("influxd does not answer on %s after 60s (%v):\n%s", s.URL, err, s.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops influxd with SIGKILL (an outage, or a crash) and waits until
// it has exited.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Stop stops influxd (SIGTERM; SIGKILL after 20s) and waits until it has
// exited. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig) // it may have exited already
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Query runs an InfluxQL statement on /query (as admin with Auth) and
// returns the answer's body; a test checks what the store made with it.
func (s *Server) Query(ctx context.Context, db, q string) (string, error) {
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.opts.Auth {
		req.SetBasicAuth("admin", "secret")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return b.String(), fmt.Errorf("%s: %s", resp.Status, b.String())
	}
	return b.String(), nil
}

// tail is the end of influxd's log.
func (s *Server) tail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "influxd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
