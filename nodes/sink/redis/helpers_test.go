package redis

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/sinktest"
	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
)

// TestMain runs the kill test's child when asked to; otherwise the tests,
// failing if a goroutine outlives them.
func TestMain(m *testing.M) {
	killtest.Main(m, childDirEnv, func(dir string) { runChild(dir, os.Getenv(childAddrEnv)) })
}

var quiet = sinktest.Quiet

func ctxT(t testing.TB) context.Context { return sinktest.Context(t, 60*time.Second) }

const redisBin = "/usr/bin/redis-server"

// server is a real redis-server the test starts, stops and starts again
// on the same port and directory.
type server struct {
	t    testing.TB
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(t testing.TB) *server {
	t.Helper()
	sinktest.Need(t, redisBin)
	s := &server{t: t, dir: t.TempDir(), port: sinktest.FreePort(t)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(redisBin, "--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--daemonize", "no", "--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	c := s.client()
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s does not answer PING: %v", s.addr(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops the server, keeping nothing but what the test kept (no
// persistence: the outage tests keep the data by shutting down with SAVE).
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// restart shuts the server down saving its data (an RDB file in dir), so
// that it comes back with what it held, and starts it again on the same
// port after wait.
func (s *server) shutdown() {
	s.t.Helper()
	c := s.client()
	defer c.Close()
	_ = c.ShutdownSave(context.Background()).Err() // the connection closes: an error is expected
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.t.Fatal("redis-server did not shut down")
	}
	s.cmd = nil
}

func (s *server) client() *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1, DisableIdentity: true, Protocol: 2})
}

// rig is a real engine with the resources sluice serve provides.
type rig struct{ *sinktest.Rig }

func newRig(t testing.TB) rig { return rig{sinktest.NewRig(t)} }

func flowOf(t testing.TB, id string, config map[string]any) *engine.Flow {
	t.Helper()
	return sinktest.Flow(t, id, "redis", Type, config)
}

func (r rig) deploy(t testing.TB, f *engine.Flow, version int) {
	t.Helper()
	r.Deploy(t, "acme", f, version)
}

func (r rig) send(t testing.TB, flow, device, data string) *engine.Result {
	t.Helper()
	return r.Send(t, flow, "TELEMETRY", device, data, nil)
}

var (
	tele       = sinktest.Telemetry
	eventually = sinktest.Eventually
	ok         = sinktest.OK
)
