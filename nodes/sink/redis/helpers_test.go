package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// TestMain runs the kill test's child when asked to; otherwise the tests,
// failing if a goroutine outlives them.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		runChild(dir, os.Getenv(childAddrEnv))
		return
	}
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startRedis(t testing.TB) *server {
	t.Helper()
	if _, err := exec.LookPath(redisBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is missing (%v): deploy/dev-services.sh installs it", err)
		}
		t.Skipf("redis-server is missing (%v): apt-get install -y redis-server", err)
	}
	s := &server{t: t, dir: t.TempDir(), port: freePort(t)}
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
type rig struct {
	m   *engine.Manager
	dir string
	reg *batch.Registry
}

func newRig(t testing.TB) *rig {
	t.Helper()
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), Logger: quiet, MessageTimeout: 10 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	r := &rig{m: m, dir: t.TempDir(), reg: batch.NewRegistry()}
	m.Resources().Provide(batch.DataDirKey, r.dir)
	m.Resources().Provide(batch.RegistryKey, r.reg)
	return r
}

func flowOf(t testing.TB, id string, config map[string]any) *engine.Flow {
	t.Helper()
	f := engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "redis", Type: Type, Configuration: config}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.ParseFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *rig) deploy(t testing.TB, f *engine.Flow, version int) {
	t.Helper()
	if err := r.m.Deploy(ctxT(t), "acme", f, version); err != nil {
		t.Fatalf("deploy: %v", err)
	}
}

func (r *rig) send(t testing.TB, flow, device, data string) *engine.Result {
	t.Helper()
	res, err := r.m.Submit(ctxT(t), flow, engine.Message{Type: "TELEMETRY", Data: data, Metadata: map[string]string{engine.MetaDeviceID: device}}, engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

func tele(device string, at int64, signals string) string {
	return fmt.Sprintf(`{"deviceId":%q,"ts":%d,"signals":%s}`, device, at, signals)
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ok(t testing.TB, res *engine.Result) map[string]string {
	t.Helper()
	if res.Status != engine.StatusCompleted || len(res.Ends) != 1 || res.Ends[0].Relation != "Success" {
		t.Fatalf("result = %+v", res)
	}
	return res.Ends[0].Msg.Metadata
}
