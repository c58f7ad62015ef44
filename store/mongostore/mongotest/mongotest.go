// Package mongotest starts a real MongoDB-wire server for tests: FerretDB
// v1.23.1 on its SQLite backend (deploy/tools/ferretdb.sh builds it), on a
// free port in a temporary directory, stopped in t.Cleanup. A test can kill
// it and start it again on the same port and directory (outage tests).
package mongotest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Server is a FerretDB process a test started.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the ferretdb binary: from PATH, else from
// $(go env GOPATH)/bin.
func Binary() (string, error) {
	binOnce.Do(func() {
		if p, err := exec.LookPath("ferretdb"); err == nil {
			binPath = p
			return
		}
		gopath := os.Getenv("GOPATH")
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
		if gopath == "" {
			if home, err := os.UserHomeDir(); err == nil {
				gopath = filepath.Join(home, "go")
			}
		}
		p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "ferretdb")
		if _, err := os.Stat(p); err != nil {
			binErr = err
			return
		}
		binPath = p
	})
	return binPath, binErr
}

// Start starts FerretDB for t, or skips t when the binary is missing (fails
// it when CI=true).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ferretdb is missing (%v): deploy/tools/ferretdb.sh builds it", err)
		}
		t.Skipf("ferretdb is missing (%v): deploy/tools/ferretdb.sh builds it", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t)}
	s.Start()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("ferretdb log (the end):\n%s", s.logTail(8<<10))
		}
	})
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

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URI is the server's connection string.
func (s *Server) URI() string { return "mongodb://" + s.Addr() + "/" }

// Start starts the server (again, after Kill: same port, same data) and
// returns once it answers a ping.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		s.t.Fatal("ferretdb: already running")
	}
	logPath := filepath.Join(s.dir, "ferretdb.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.mu.Unlock()
		s.t.Fatal(err)
	}
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		s.mu.Unlock()
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--handler=sqlite", "--sqlite-url=file:"+data+"/", "--listen-addr="+s.Addr(),
		"--telemetry=disable", "--debug-addr=-", "--state-dir="+s.dir, "--log-level=WARN")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		s.mu.Unlock()
		s.t.Fatalf("start ferretdb: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.ping()
		if err == nil {
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			s.t.Fatalf("ferretdb exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("ferretdb on %s does not answer: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) ping() error {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	_ = conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(s.URI()).SetServerSelectionTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Disconnect(context.Background())
	return c.Ping(ctx, nil)
}

// Kill kills the server (SIGKILL), as a crash would: what it committed
// stays for the next Start. (A graceful SIGTERM takes FerretDB about 3 s,
// waiting for its clients' connections.)
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// logTail is the end of the server's log.
func (s *Server) logTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "ferretdb.log"))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Client is a client of the server, disconnected in t.Cleanup.
func (s *Server) Client(t testing.TB) *mongo.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mongo.Connect(ctx, options.Client().ApplyURI(s.URI()))
	if err != nil {
		t.Fatalf("connect to ferretdb: %v", err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}
