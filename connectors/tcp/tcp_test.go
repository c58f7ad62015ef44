package tcp_test

import (
	"encoding/base64"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/connectors/tcp"
	"github.com/sluicehq/sluice/engine"
)

func TestNewlineFramingWithTokenAndAck(t *testing.T) {
	m := newManager(t)
	rec := conntest.Record(t, "lines")
	addr := conntest.FreeAddr(t)
	deploy(t, m, "lines", 1, map[string]any{"listen": addr, "encoding": "json", "reply": "ack"}, conntest.RecordType)

	c := dial(t, addr)
	write(t, c, []byte("tok-boiler\n"))
	if got := readLine(t, c); got != "ack\n" {
		t.Fatalf("reply to the token = %q, want ack", got)
	}
	write(t, c, []byte("{\"t\":1}\r\n\n{\"t\":2}\n"))
	for i, want := range []string{`{"t":1}`, `{"t":2}`} {
		if got := readLine(t, c); got != "ack\n" {
			t.Fatalf("reply to frame %d = %q", i, got)
		}
		msg := rec.Next(t, wait)
		if msg.Data != want || msg.DataType != "JSON" || msg.Type != "RAW" {
			t.Fatalf("message %d = %s %s %q, want JSON RAW %q", i, msg.DataType, msg.Type, msg.Data, want)
		}
		md := msg.Metadata
		if md.GetValue("deviceId") != "boiler-7" || md.GetValue("connector") != "tcpIn" || md.GetValue("tenant") != tenant ||
			md.GetValue("remoteAddr") != c.LocalAddr().String() || md.GetValue("receivedAt") == "" {
			t.Fatalf("metadata = %v", md.Values())
		}
	}
	// Not JSON: refused, counted, the connection stays.
	write(t, c, []byte("not json\n"))
	if got := readLine(t, c); got != "nack\n" {
		t.Fatalf("reply to invalid JSON = %q", got)
	}
	write(t, c, []byte("{\"t\":3}\n"))
	if got := readLine(t, c); got != "ack\n" {
		t.Fatalf("reply after a refused frame = %q", got)
	}
	if msg := rec.Next(t, wait); msg.Data != `{"t":3}` {
		t.Fatalf("message = %q", msg.Data)
	}
	st := conntest.Status(t, m, "lines")
	if st.Messages != 3 || st.Errors != 1 || st.Connections != 1 || st.Bytes != 21 || !strings.Contains(st.LastError, "not valid JSON") {
		t.Fatalf("status = %+v", st)
	}
}

func TestWrongOrForeignTokenIsRefused(t *testing.T) {
	m := newManager(t)
	rec := conntest.Record(t, "auth")
	addr := conntest.FreeAddr(t)
	deploy(t, m, "auth", 1, map[string]any{"listen": addr, "reply": "ack"}, conntest.RecordType)
	for i, token := range []string{"tok-wrong", "tok-other", ""} {
		c := dial(t, addr)
		write(t, c, []byte(token+"\n"+"secret data\n"))
		if token != "" {
			if got := readLine(t, c); got != "nack\n" {
				t.Fatalf("reply to token %q = %q", token, got)
			}
			expectClosed(t, c, 5*time.Second)
		} else {
			// An empty first line is skipped: "secret data" is taken as the token.
			if got := readLine(t, c); got != "nack\n" {
				t.Fatalf("reply to a wrong token = %q", got)
			}
		}
		conntest.Eventually(t, wait, "the refusal to be counted", func() bool { return conntest.Status(t, m, "auth").Errors == uint64(i+1) })
	}
	rec.None(t)
	if st := conntest.Status(t, m, "auth"); !strings.Contains(st.LastError, "refused") || st.Messages != 0 {
		t.Fatalf("status = %+v", st)
	}
}

func TestFramings(t *testing.T) {
	be2 := func(n int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }
	le4 := func(n int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(n)) }
	bin := []byte{0x00, 0xff, 0x10, 0x7e}
	cases := []struct {
		name  string
		cfg   map[string]any
		input []byte
		want  []string // Data of each message
		dt    string
	}{
		{"length 1 byte text", map[string]any{"framing": "length", "lengthBytes": 1},
			[]byte("\x05hello\x00\x02hi"), []string{"hello", "hi"}, "TEXT"},
		{"length 2 bytes big endian base64", map[string]any{"framing": "length", "lengthBytes": 2, "encoding": "base64"},
			append(append(be2(4), bin...), append(be2(1), 'x')...), []string{base64.StdEncoding.EncodeToString(bin), "eA=="}, "BINARY"},
		{"length 4 bytes little endian hex", map[string]any{"framing": "length", "lengthBytes": 4, "byteOrder": "little", "encoding": "hex"},
			append(le4(4), bin...), []string{"00ff107e"}, "TEXT"},
		{"length including its header", map[string]any{"framing": "length", "lengthBytes": 2, "lengthIncludesHeader": true},
			append(be2(5), "abc"...), []string{"abc"}, "TEXT"},
		{"fixed size hex", map[string]any{"framing": "fixed", "frameSize": 2, "encoding": "hex"},
			[]byte{1, 2, 3, 4}, []string{"0102", "0304"}, "TEXT"},
		{"text delimiter", map[string]any{"framing": "delimiter", "delimiter": "||"},
			[]byte("a|b||c||||d||"), []string{"a|b", "c", "d"}, "TEXT"},
		{"hex delimiter base64", map[string]any{"framing": "delimiter", "delimiterHex": "7e", "encoding": "base64"},
			[]byte{0x01, 0x7e, 0x02, 0x03, 0x7e}, []string{"AQ==", "AgM="}, "BINARY"},
		{"newline", map[string]any{"framing": "newline"},
			[]byte("one\r\ntwo\n"), []string{"one", "two"}, "TEXT"},
	}
	m := newManager(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := conntest.Record(t, "framing")
			addr := conntest.FreeAddr(t)
			tc.cfg["listen"] = addr
			// Known by address, so that the frames of the connection keep
			// their order (messages of one device are processed in order).
			tc.cfg["identify"] = "address"
			tc.cfg["addressMap"] = map[string]any{"127.0.0.1": "dev"}
			deploy(t, m, "framing", i+1, tc.cfg, conntest.RecordType)
			c := dial(t, addr)
			// Byte by byte: frames must not depend on how TCP segments them.
			for _, b := range tc.input {
				write(t, c, []byte{b})
			}
			for _, want := range tc.want {
				msg := rec.Next(t, wait)
				if msg.Data != want || string(msg.DataType) != tc.dt {
					t.Fatalf("message = %s %q, want %s %q", msg.DataType, msg.Data, tc.dt, want)
				}
				if msg.Metadata.GetValue("deviceId") != "dev" {
					t.Fatalf("metadata = %v", msg.Metadata.Values())
				}
			}
			rec.None(t)
		})
	}
}

func TestOversizeFrameClosesTheConnection(t *testing.T) {
	m := newManager(t)
	rec := conntest.Record(t, "oversize", "oversize-len")
	addr := conntest.FreeAddr(t)
	deploy(t, m, "oversize", 1, map[string]any{"listen": addr, "identify": "none", "maxFrameSize": 8}, conntest.RecordType)
	c := dial(t, addr)
	write(t, c, []byte("12345678\n"+strings.Repeat("x", 100)))
	if msg := rec.Next(t, wait); msg.Data != "12345678" {
		t.Fatalf("frame at the limit = %q", msg.Data)
	}
	expectClosed(t, c, 5*time.Second)
	rec.None(t)
	conntest.Eventually(t, wait, "the error", func() bool { return strings.Contains(conntest.Status(t, m, "oversize").LastError, "frame too large") })

	// A length prefix announcing too much is refused before reading it.
	addr2 := conntest.FreeAddr(t)
	deploy(t, m, "oversize-len", 1, map[string]any{"listen": addr2, "identify": "none", "framing": "length", "lengthBytes": 4, "maxFrameSize": 1024}, conntest.RecordType)
	c2 := dial(t, addr2)
	write(t, c2, binary.BigEndian.AppendUint32(nil, 1<<30))
	expectClosed(t, c2, 5*time.Second)
	conntest.Eventually(t, wait, "the error", func() bool {
		return strings.Contains(conntest.Status(t, m, "oversize-len").LastError, "1073741824 bytes announced")
	})
	rec.None(t)
}

func TestSlowSenderIsCutAtTheIdleTimeout(t *testing.T) {
	m := newManager(t)
	rec := conntest.Record(t, "slowloris")
	addr := conntest.FreeAddr(t)
	deploy(t, m, "slowloris", 1, map[string]any{"listen": addr, "identify": "none", "idleTimeout": "2s"}, conntest.RecordType)
	c := dial(t, addr)
	// One byte a second, never a newline: each read succeeds, the frame never ends.
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		sent := 0
		defer func() { done <- sent }()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
			sent++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	expectClosed(t, c, 10*time.Second)
	took := time.Since(start)
	close(stop)
	sent := <-done
	if sent < 2 {
		t.Fatalf("the slow sender sent %d bytes before the cut; want at least 2", sent)
	}
	if took < 1500*time.Millisecond {
		t.Fatalf("cut after %s, before the idle timeout", took)
	}
	conntest.Eventually(t, wait, "the idle-timeout error", func() bool { return strings.Contains(conntest.Status(t, m, "slowloris").LastError, "idle timeout") })
	rec.None(t)
}

func TestMaxConnections(t *testing.T) {
	m := newManager(t)
	rec := conntest.Record(t, "maxconn")
	addr := conntest.FreeAddr(t)
	deploy(t, m, "maxconn", 1, map[string]any{"listen": addr, "identify": "none", "maxConnections": 2}, conntest.RecordType)
	c1, c2 := dial(t, addr), dial(t, addr)
	conntest.Eventually(t, wait, "two connections", func() bool { return conntest.Status(t, m, "maxconn").Connections == 2 })
	c3 := dial(t, addr)
	expectClosed(t, c3, 5*time.Second)
	if st := conntest.Status(t, m, "maxconn"); st.Errors != 1 || !strings.Contains(st.LastError, "2 connections open") {
		t.Fatalf("status = %+v", st)
	}
	write(t, c2, []byte("still here\n"))
	if msg := rec.Next(t, wait); msg.Data != "still here" {
		t.Fatalf("message = %q", msg.Data)
	}
	c1.Close()
	conntest.Eventually(t, wait, "one connection", func() bool { return conntest.Status(t, m, "maxconn").Connections == 1 })
	c4 := dial(t, addr)
	write(t, c4, []byte("room again\n"))
	if msg := rec.Next(t, wait); msg.Data != "room again" {
		t.Fatalf("message = %q", msg.Data)
	}
}

func TestAddressMap(t *testing.T) {
	m := newManager(t)
	rec := conntest.Record(t, "bymap", "notmapped")
	addr := conntest.FreeAddr(t)
	deploy(t, m, "bymap", 1, map[string]any{"listen": addr, "identify": "address",
		"addressMap": map[string]any{"127.0.0.1": "plc-1"}}, conntest.RecordType)
	c := dial(t, addr)
	write(t, c, []byte("hello\n"))
	if msg := rec.Next(t, wait); msg.Metadata.GetValue("deviceId") != "plc-1" || msg.Data != "hello" {
		t.Fatalf("message = %q %v", msg.Data, msg.Metadata.Values())
	}

	addr2 := conntest.FreeAddr(t)
	deploy(t, m, "notmapped", 1, map[string]any{"listen": addr2, "identify": "address",
		"addressMap": map[string]any{"10.0.0.1": "plc-2"}}, conntest.RecordType)
	c2 := dial(t, addr2)
	write(t, c2, []byte("hello\n"))
	expectClosed(t, c2, 5*time.Second)
	rec.None(t)
	if st := conntest.Status(t, m, "notmapped"); st.Errors != 1 || !strings.Contains(st.LastError, "not in addressMap") {
		t.Fatalf("status = %+v", st)
	}
}

func TestRedeployKeepsTheConnection(t *testing.T) {
	m := newManager(t)
	rec := conntest.Record(t, "keep")
	addr := conntest.FreeAddr(t)
	cfg := func() map[string]any { return map[string]any{"listen": addr, "identify": "none"} }
	deploy(t, m, "keep", 1, cfg(), conntest.RecordType)
	c := dial(t, addr)
	write(t, c, []byte("v1\n"))
	rec.Next(t, wait)
	deploy(t, m, "keep", 2, cfg(), conntest.RecordType)
	write(t, c, []byte("v2\n"))
	if msg := rec.Next(t, wait); msg.Data != "v2" {
		t.Fatalf("message = %q", msg.Data)
	}
	conntest.Eventually(t, wait, "two messages counted", func() bool { return conntest.Status(t, m, "keep").Messages == 2 })
	if st := conntest.Status(t, m, "keep"); st.Connections != 1 {
		t.Fatalf("status after an unchanged redeploy = %+v", st)
	}
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	cases := map[string]map[string]any{
		"frameSize":    {"framing": "fixed"},
		"delimiter":    {"framing": "delimiter"},
		"delimiterHex": {"framing": "delimiter", "delimiterHex": "zz"},
		"lengthBytes":  {"framing": "length", "lengthBytes": 3},
		"addressMap":   {"identify": "address"},
		"listen":       {"listen": "7000"},
	}
	for field, cfg := range cases {
		ps := specOf(t).Check(cfg)
		if len(ps) != 1 || ps[0].Field != field {
			t.Errorf("config %v: problems %v, want one on %q", cfg, ps, field)
		}
	}
	if ps := specOf(t).Check(map[string]any{"framing": "fixed", "frameSize": 4, "listen": "127.0.0.1:7000"}); len(ps) != 0 {
		t.Errorf("valid config: %v", ps)
	}
}

func TestSpecExamplesAreValid(t *testing.T) {
	s := specOf(t)
	for _, ex := range s.Examples {
		if ps := s.Check(ex.Config); len(ps) != 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
	for _, f := range s.Fields {
		if f.Help == "" {
			t.Errorf("field %s has no help", f.Name)
		}
	}
}

func TestPortInUseIsReported(t *testing.T) {
	m := newManager(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	conntest.Deploy(t, m, tenant, conntest.Flow("busy", tcp.NodeType, map[string]any{"listen": busy.Addr().String()}, conntest.RecordType), 1)
	if st := conntest.Status(t, m, "busy"); st.State != engine.StateError || !strings.Contains(st.LastError, "address already in use") {
		t.Fatalf("status = %+v", st)
	}
}
