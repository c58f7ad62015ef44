package sql

import (
	"context"
	dbsql "database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/sinktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = sinktest.Quiet

func ctxT(t testing.TB) context.Context { return sinktest.Context(t, 90*time.Second) }

// need finds a server binary: missing, the test is skipped, or fails
// under CI=true. The servers run as root.
func need(t testing.TB, bin string) string {
	t.Helper()
	p := sinktest.Need(t, bin)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the real-server tests run as root")
		}
		t.Skip("the real-server tests run as root")
	}
	return p
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// server is a real database server the test started and can stop and
// start again.
type server struct {
	driver, dsn string
	start, stop func()
}

const pgBin = "/usr/lib/postgresql/15/bin"

// startPostgres starts a private PostgreSQL 15 cluster as the postgres user.
func startPostgres(t testing.TB) *server {
	need(t, filepath.Join(pgBin, "initdb"))
	need(t, "runuser")
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	run(t, "chown", "postgres:postgres", dir)
	run(t, "runuser", "-u", "postgres", "--", filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	port := sinktest.FreePort(t)
	s := &server{driver: Postgres, dsn: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	s.start = func() {
		run(t, "runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"),
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir), "-w", "start")
	}
	s.stop = func() {
		run(t, "runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
	}
	s.start()
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	return s
}

// startMariaDB starts a private MariaDB server as root.
func startMariaDB(t testing.TB) *server {
	bin := need(t, "mariadbd")
	install := need(t, "mariadb-install-db")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	run(t, install, "--no-defaults", "--datadir="+data, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db")
	port := sinktest.FreePort(t)
	s := &server{driver: MySQL, dsn: fmt.Sprintf("root@tcp(127.0.0.1:%d)/sluice", port)}
	var cmd *exec.Cmd
	s.start = func() {
		log, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		cmd = exec.Command(bin, "--no-defaults", "--datadir="+data, "--port="+strconv.Itoa(port), "--bind-address=127.0.0.1",
			"--socket="+filepath.Join(dir, "s.sock"), "--user=root", "--skip-log-bin", "--innodb-flush-log-at-trx-commit=2")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mariadbd: %v", err)
		}
		root := fmt.Sprintf("root@tcp(127.0.0.1:%d)/", port)
		eventually(t, 60*time.Second, "mariadbd to answer", func() bool {
			db, err := dbsql.Open("mysql", root)
			if err != nil {
				return false
			}
			defer db.Close()
			_, err = db.Exec("CREATE DATABASE IF NOT EXISTS sluice")
			return err == nil
		})
	}
	s.stop = func() {
		_ = cmd.Process.Signal(syscallTERM)
		_ = cmd.Wait()
	}
	s.start()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return s
}

func (s *server) open(t testing.TB) *dbsql.DB {
	name := "pgx"
	if s.driver == MySQL {
		name = "mysql"
	}
	db, err := dbsql.Open(name, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func exec1(t testing.TB, db *dbsql.DB, q string) {
	t.Helper()
	if _, err := db.ExecContext(ctxT(t), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// rig is a real engine with the resources sluice serve provides.
type rig struct{ *sinktest.Rig }

func newRig(t testing.TB) rig { return rig{sinktest.NewRig(t)} }

func flowOf(t testing.TB, id string, config map[string]any) *engine.Flow {
	t.Helper()
	return sinktest.Flow(t, id, "db", Type, config)
}

func (r rig) deploy(t testing.TB, f *engine.Flow) {
	t.Helper()
	r.Deploy(t, "acme", f, 1)
}

// send submits a message and checks that it left on Success.
func (r rig) send(t testing.TB, flow, device, data string, md map[string]string) *engine.Result {
	t.Helper()
	res := r.Send(t, flow, "TELEMETRY", device, data, md)
	sinktest.OK(t, res)
	return res
}

var eventually = sinktest.Eventually
