package sql

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

const t0 = int64(1763800000000)

func TestPostgres(t *testing.T) { testServer(t, startPostgres(t)) }
func TestMariaDB(t *testing.T)  { testServer(t, startMariaDB(t)) }

func ddl(driver, table string) string {
	if driver == MySQL {
		return "CREATE TABLE " + table + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, device VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, " +
			"value DOUBLE, at DATETIME(3), gw VARCHAR(64), extra TEXT, UNIQUE KEY dk (device, seq))"
	}
	return "CREATE TABLE " + table + " (id BIGSERIAL PRIMARY KEY, device TEXT NOT NULL, seq BIGINT NOT NULL, " +
		"value DOUBLE PRECISION, at TIMESTAMP, gw TEXT, extra JSONB, UNIQUE (device, seq))"
}

func cfgOf(s *server, table, mode string) map[string]any {
	return map[string]any{
		"driver": s.driver, "dsn": s.dsn, "table": table, "mode": mode, "keys": []any{"device", "seq"},
		"flushInterval": "5ms", "batchSize": 20,
		"columns": []any{
			map[string]any{"column": "device", "from": "deviceId"},
			map[string]any{"column": "seq", "from": "msg.seq", "type": "integer"},
			map[string]any{"column": "value", "from": "msg.signals.value", "type": "float"},
			map[string]any{"column": "at", "from": "ts"},
			map[string]any{"column": "gw", "from": "metadata.gateway"},
			map[string]any{"column": "extra", "from": "msg.extra", "type": "json"},
		},
	}
}

func payload(device string, seq int, value float64) string {
	return fmt.Sprintf(`{"deviceId":%q,"ts":%d,"seq":%d,"signals":{"value":%g},"extra":{"n":%d}}`, device, t0+int64(seq), seq, value, seq)
}

func count(t testing.TB, s *server, table string) int {
	var n int
	if err := s.open(t).QueryRowContext(ctxT(t), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		return -1
	}
	return n
}

func testServer(t *testing.T, s *server) {
	db := s.open(t)
	t.Run("insert", func(t *testing.T) {
		exec1(t, db, ddl(s.driver, "ins"))
		r := newRig(t)
		r.deploy(t, flowOf(t, "f", cfgOf(s, "ins", ModeInsert)))
		res := r.send(t, "f", "d1", payload("d1", 1, 2.5), map[string]string{"gateway": "gw-1"})
		if md := res.Ends[0].Msg.Metadata; md[MetaRows] != "1" {
			t.Errorf("metadata = %v", md)
		}
		_ = res
		r.send(t, "f", "d2", `[{"seq":1,"signals":{"value":1}},{"seq":2,"signals":{"value":2}}]`, nil)
		eventually(t, 20*time.Second, "3 rows", func() bool { return count(t, s, "ins") == 3 })
		var dev, gw, extra string
		var v float64
		var at time.Time
		q := "SELECT device, value, at, gw, extra FROM ins WHERE seq = 1 AND device = 'd1'"
		if s.driver == MySQL {
			q = "SELECT device, value, CAST(UNIX_TIMESTAMP(CONVERT_TZ(at, '+00:00', @@session.time_zone))*1000 AS SIGNED), gw, extra FROM ins WHERE seq = 1 AND device = 'd1'"
			var ms int64
			if err := db.QueryRowContext(ctxT(t), q).Scan(&dev, &v, &ms, &gw, &extra); err != nil {
				t.Fatal(err)
			}
			at = time.UnixMilli(ms)
		} else if err := db.QueryRowContext(ctxT(t), q).Scan(&dev, &v, &at, &gw, &extra); err != nil {
			t.Fatal(err)
		}
		if dev != "d1" || v != 2.5 || at.UnixMilli() != t0+1 || gw != "gw-1" || strings.ReplaceAll(extra, " ", "") != `{"n":1}` {
			t.Errorf("row = %q %v %v %q %q", dev, v, at.UnixMilli(), gw, extra)
		}
	})
	t.Run("upsert", func(t *testing.T) {
		exec1(t, db, ddl(s.driver, "ups"))
		r := newRig(t)
		r.deploy(t, flowOf(t, "f", cfgOf(s, "ups", ModeUpsert)))
		r.send(t, "f", "d1", payload("d1", 1, 1), nil)
		r.send(t, "f", "d1", payload("d1", 1, 7), nil)
		r.send(t, "f", "d1", payload("d1", 2, 3), nil)
		eventually(t, 20*time.Second, "upserted rows", func() bool {
			var v float64
			err := db.QueryRowContext(ctxT(t), "SELECT value FROM ups WHERE device='d1' AND seq=1").Scan(&v)
			return err == nil && v == 7 && count(t, s, "ups") == 2
		})
	})
	t.Run("outage", func(t *testing.T) {
		exec1(t, db, ddl(s.driver, "outage"))
		r := newRig(t)
		r.deploy(t, flowOf(t, "f", cfgOf(s, "outage", ModeUpsert)))
		devices := []string{"a", "b", "c"}
		const n = 90
		for seq := range n {
			switch seq {
			case n / 3:
				eventually(t, 20*time.Second, "first rows", func() bool { return count(t, s, "outage") > 0 })
				s.stop()
			case 2 * n / 3:
				s.start()
			}
			for _, d := range devices {
				r.send(t, "f", d, payload(d, seq, float64(seq)), nil)
			}
		}
		eventually(t, 60*time.Second, "every row", func() bool { return count(t, s, "outage") == n*len(devices) })
		rows, err := s.open(t).QueryContext(ctxT(t), "SELECT device, seq FROM outage ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		next := map[string]int{}
		for rows.Next() {
			var d string
			var seq int
			if err := rows.Scan(&d, &seq); err != nil {
				t.Fatal(err)
			}
			if seq != next[d] {
				t.Fatalf("device %s: seq %d, want %d (out of order or missing)", d, seq, next[d])
			}
			next[d]++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		st := r.Reg.Statuses("f")["db"]
		if st.Failures == 0 {
			t.Errorf("status %+v: the outage caused no failed write", st)
		}
	})
}

// TestTestRunWritesNothing: a test run reports and connects to nothing.
func TestTestRunWritesNothing(t *testing.T) {
	r := newRig(t)
	s := &server{driver: Postgres, dsn: "postgres://nobody@127.0.0.1:1/x"}
	res, err := r.M.Test(ctxT(t), "acme", flowOf(t, "f", cfgOf(s, "readings", ModeUpsert)),
		engine.Message{Type: "TELEMETRY", Data: payload("d", 1, 1)}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	md := res.Result.Ends[0].Msg.Metadata
	if md[MetaDryRun] != "true" || md[MetaWouldWrite] != "1" || !strings.Contains(md[MetaReport], `ON CONFLICT ("device", "seq") DO UPDATE`) {
		t.Errorf("metadata = %v", md)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "spool")); !os.IsNotExist(err) {
		t.Errorf("a test run made a spool: %v", err)
	}
}

func TestInitRefusesBadConfig(t *testing.T) {
	base := func() map[string]any { return cfgOf(&server{driver: Postgres, dsn: "x"}, "t", ModeInsert) }
	for name, mut := range map[string]func(map[string]any){
		"upsert without keys": func(c map[string]any) { c["mode"] = ModeUpsert; c["keys"] = []any{} },
		"bad table":           func(c map[string]any) { c["table"] = "t; drop" },
		"bad from":            func(c map[string]any) { c["columns"] = []any{map[string]any{"column": "a", "from": "x"}} },
		"key not mapped":      func(c map[string]any) { c["keys"] = []any{"nope"} },
	} {
		c := base()
		mut(c)
		if err := (&Node{}).Init(types.Config{}, c); err == nil {
			t.Errorf("%s: Init accepted it", name)
		}
	}
}
