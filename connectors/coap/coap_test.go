package coap_test

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/connectors/coap"
	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// responses returns the response codes coap-client-notls -v 6 logged.
func responses(out string) []string {
	var codes []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "t:ACK c:") || strings.Contains(line, "t:CON c:2") || strings.Contains(line, "t:NON c:2") {
			if i := strings.Index(line, " c:"); i >= 0 {
				codes = append(codes, strings.Fields(line[i+3:])[0])
			}
		}
	}
	return codes
}

func TestPostConfirmableAndNonConfirmable(t *testing.T) {
	m := newManager(t, engine.Options{})
	rec := conntest.Record(t, "ingest")
	addr := conntest.FreeUDPAddr(t)
	conntest.Deploy(t, m, tenant, ingestFlow("ingest", map[string]any{"listen": addr, "paths": []any{"/telemetry", "/devices/{deviceId}/raw"}, "tokenOption": 2048}, conntest.RecordType), 1)
	url := "coap://" + addr

	cases := []struct {
		name     string
		args     []string
		data, dt string
		coapType string
		path     string
	}{
		{"confirmable JSON", []string{"-m", "post", "-t", "50", "-e", `{"temperature":21.5}`, url + "/telemetry?token=tok-boiler"},
			`{"temperature":21.5}`, "JSON", "CON", "/telemetry"},
		{"non-confirmable text", []string{"-N", "-m", "put", "-t", "0", "-e", "t=21.5", url + "/telemetry?token=tok-boiler"},
			"t=21.5", "TEXT", "NON", "/telemetry"},
		{"binary, token in an option", []string{"-m", "post", "-t", "42", "-O", "2048,tok-boiler", "-e", "%00%01%ff", url + "/devices/boiler-7/raw"},
			base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}), "BINARY", "CON", "/devices/boiler-7/raw"},
		{"no Content-Format: the node's dataType", []string{"-m", "post", "-e", "plain", url + "/telemetry?token=tok-boiler"},
			"plain", "TEXT", "CON", "/telemetry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := client(t, append([]string{"-v", "6", "-B", "5"}, tc.args...)...)
			if got := responses(r.out); len(got) != 1 || got[0] != "2.04" || r.err != nil {
				t.Fatalf("responses %v (err %v)\nstdout %s\nstderr %s", got, r.err, r.out, r.errOut)
			}
			msg := rec.Next(t, wait)
			if msg.Data != tc.data || string(msg.DataType) != tc.dt || msg.Type != "RAW" {
				t.Fatalf("message = %s %s %q, want %s %q", msg.Type, msg.DataType, msg.Data, tc.dt, tc.data)
			}
			md := msg.Metadata
			if md.GetValue("deviceId") != "boiler-7" || md.GetValue("connector") != "coapIn" || md.GetValue("tenant") != tenant ||
				md.GetValue("path") != tc.path || md.GetValue("coapType") != tc.coapType || md.GetValue("remoteAddr") == "" || md.GetValue("receivedAt") == "" {
				t.Fatalf("metadata = %v", md.Values())
			}
			if strings.Contains(strings.Join(mapValues(md), " "), "tok-boiler") {
				t.Fatalf("the token leaked into metadata: %v", md.Values())
			}
		})
	}
	if st := conntest.Status(t, m, "ingest"); st.Messages != uint64(len(cases)) || st.Errors != 0 || st.State != engine.StateListening {
		t.Fatalf("status = %+v", st)
	}
}

func mapValues(md types.Metadata) []string {
	var out []string
	for _, v := range md.Values() {
		out = append(out, v)
	}
	return out
}

func TestRefusedDevicesNeverReachTheFlow(t *testing.T) {
	m := newManager(t, engine.Options{})
	rec := conntest.Record(t, "refuse")
	addr := conntest.FreeUDPAddr(t)
	conntest.Deploy(t, m, tenant, ingestFlow("refuse", map[string]any{"listen": addr, "paths": []any{"/telemetry", "/devices/{deviceId}/raw"}}, conntest.RecordType), 1)
	url := "coap://" + addr
	cases := []struct {
		name, target, want string
	}{
		{"unknown token", "/telemetry?token=nope", "4.01"},
		{"no token", "/telemetry", "4.01"},
		{"device of another tenant", "/telemetry?token=tok-other", "4.01"},
		{"path of another device", "/devices/pump-2/raw?token=tok-boiler", "4.03"},
	}
	for i, tc := range cases {
		r := client(t, "-B", "5", "-m", "post", "-e", "x", url+tc.target)
		if !strings.HasPrefix(r.errOut, tc.want) {
			t.Fatalf("%s: stderr %q, want %s", tc.name, r.errOut, tc.want)
		}
		if st := conntest.Status(t, m, "refuse"); st.Errors != uint64(i+1) || !strings.Contains(st.LastError, "refused") {
			t.Fatalf("%s: status = %+v", tc.name, st)
		}
	}
	r := client(t, "-B", "5", "-m", "post", "-e", "x", url+"/elsewhere?token=tok-boiler")
	if !strings.HasPrefix(r.errOut, "4.04") {
		t.Fatalf("unknown path: stderr %q", r.errOut)
	}
	rec.None(t)
}

func TestNoDeviceRegistryRefusesEveryDevice(t *testing.T) {
	m := newManager(t, engine.Options{})
	rec := conntest.Record(t, "anon")
	addr := conntest.FreeUDPAddr(t)
	f := ingestFlow("anon", map[string]any{"listen": addr, "auth": "none", "paths": []any{"/devices/{deviceId}/raw"}}, conntest.RecordType)
	conntest.Deploy(t, m, tenant, f, 1)
	r := client(t, "-B", "5", "-m", "post", "-e", "x", "coap://"+addr+"/devices/plc-9/raw")
	if r.errOut != "" {
		t.Fatalf("anonymous post: %q", r.errOut)
	}
	if msg := rec.Next(t, wait); msg.Metadata.GetValue("deviceId") != "plc-9" {
		t.Fatalf("metadata = %v", msg.Metadata.Values())
	}
}

func TestPayloadLimit(t *testing.T) {
	m := newManager(t, engine.Options{})
	rec := conntest.Record(t, "limit")
	addr := conntest.FreeUDPAddr(t)
	conntest.Deploy(t, m, tenant, ingestFlow("limit", map[string]any{"listen": addr, "maxPayloadSize": 32}, conntest.RecordType), 1)
	url := "coap://" + addr + "/telemetry?token=tok-boiler"
	r := client(t, "-B", "5", "-m", "post", "-e", strings.Repeat("a", 32), url)
	if r.errOut != "" {
		t.Fatalf("payload at the limit: %q", r.errOut)
	}
	rec.Next(t, wait)
	r = client(t, "-B", "5", "-m", "post", "-e", strings.Repeat("a", 200), url)
	if !strings.HasPrefix(r.errOut, "4.13") {
		t.Fatalf("oversize payload: stderr %q, want 4.13", r.errOut)
	}
	// Block-wise transfer (RFC 7959) is refused too: a payload in 16-byte blocks.
	r = client(t, "-B", "5", "-b", "16", "-m", "post", "-e", strings.Repeat("b", 20), url)
	if !strings.HasPrefix(r.errOut, "4.13") {
		t.Fatalf("block-wise payload: stderr %q, want 4.13", r.errOut)
	}
	rec.None(t)
	if st := conntest.Status(t, m, "limit"); st.Errors != 2 || !strings.Contains(st.LastError, "maxPayloadSize") {
		t.Fatalf("status = %+v", st)
	}
}

func TestFullFlowAnswersServiceUnavailable(t *testing.T) {
	m := newManager(t, engine.Options{MaxInFlight: 1})
	rec := conntest.Record(t, "full") // after the manager: released before its shutdown
	addr := conntest.FreeUDPAddr(t)
	conntest.Deploy(t, m, tenant, ingestFlow("full", map[string]any{"listen": addr}, conntest.HoldType), 1)
	url := "coap://" + addr + "/telemetry?token=tok-boiler"
	if r := client(t, "-B", "5", "-m", "post", "-e", "first", url); r.errOut != "" {
		t.Fatalf("first post: %q", r.errOut)
	}
	r := client(t, "-B", "5", "-m", "post", "-e", "second", url)
	if !strings.HasPrefix(r.errOut, "5.03") {
		t.Fatalf("post to a full flow: stderr %q, want 5.03", r.errOut)
	}
	if st := conntest.Status(t, m, "full"); st.Messages != 1 || st.Errors != 1 || !strings.Contains(st.LastError, "overloaded") {
		t.Fatalf("status = %+v", st)
	}
	rec.Release()
	conntest.Eventually(t, wait, "room in the flow", func() bool {
		return client(t, "-B", "5", "-m", "post", "-e", "third", url).errOut == ""
	})
}

// commandsFlow is a flow whose only node is a coapNotify for server.
func commandsFlow(server string) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: "commands", Name: "commands"}}
	f.Metadata.Nodes = []engine.Node{{ID: "notify", Type: coap.NotifyType, Configuration: map[string]any{"server": server}}}
	return f
}

// observers asks the coapNotify node, in a test run, how many devices
// observe /commands/device.
func observers(t *testing.T, m *engine.Manager, f *engine.Flow, device string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := m.Test(ctx, tenant, f, engine.Message{Type: "CMD", DataType: "JSON", Data: `{}`,
		Metadata: map[string]string{"deviceId": device}}, "", false)
	if err != nil || res.Result.Status != engine.StatusCompleted || len(res.Result.Ends) != 1 {
		t.Fatalf("test run: %v %+v", err, res)
	}
	md := res.Result.Ends[0].Msg.Metadata
	if md["coapDryRun"] != "true" || md["coapPath"] != "/commands/"+device {
		t.Fatalf("dry run metadata = %v", md)
	}
	return md["coapObservers"]
}

func command(t *testing.T, m *engine.Manager, device, data string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := m.Submit(ctx, "commands", engine.Message{Type: "CMD", DataType: "JSON", Data: data,
		Metadata: map[string]string{"deviceId": device}}, engine.SubmitOptions{Wait: true})
	if err != nil || r.Status != engine.StatusCompleted {
		t.Fatalf("command: %v %+v", err, r)
	}
	return r.Ends[0].Msg.Metadata["coapObservers"]
}

func TestObserveCommands(t *testing.T) {
	m := newManager(t, engine.Options{})
	addr := conntest.FreeUDPAddr(t)
	// A short idle timeout: the observing device is pinged, not forgotten.
	conntest.Deploy(t, m, tenant, ingestFlow("ingest", map[string]any{"listen": addr, "idleTimeout": "300ms"}, conntest.RecordType), 1)
	cmds := commandsFlow(addr)
	conntest.Deploy(t, m, tenant, cmds, 1)
	url := "coap://" + addr + "/commands/boiler-7?token=tok-boiler"

	// Watching another device's commands is forbidden.
	if r := client(t, "-B", "5", "-s", "1", "-m", "get", "coap://"+addr+"/commands/pump-2?token=tok-boiler"); !strings.HasPrefix(r.errOut, "4.03") {
		t.Fatalf("observe of another device: stderr %q", r.errOut)
	}

	done := make(chan result, 1)
	go func() { done <- client(t, "-w", "-s", "4", "-m", "get", url) }()
	conntest.Eventually(t, wait, "the device to observe", func() bool { return observers(t, m, cmds, "boiler-7") == "1" })
	// Let the idle timeout pass a few times: keep-alive pings hold the observation.
	time.Sleep(time.Second)
	if n := command(t, m, "boiler-7", `{"valve":"open"}`); n != "1" {
		t.Fatalf("notified %s observers, want 1", n)
	}
	if n := command(t, m, "boiler-7", `{"valve":"closed"}`); n != "1" {
		t.Fatalf("notified %s observers, want 1", n)
	}
	if n := command(t, m, "pump-2", `{"speed":3}`); n != "0" {
		t.Fatalf("notified %s observers of pump-2, want 0", n)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("coap-client-notls did not end")
	}
	if !strings.Contains(r.out, `{"valve":"open"}`) || !strings.Contains(r.out, `{"valve":"closed"}`) {
		t.Fatalf("the observing device printed %q (stderr %q)", r.out, r.errOut)
	}
	// A later GET reads the last value.
	if r := client(t, "-B", "5", "-m", "get", url); strings.TrimSpace(r.out) != `{"valve":"closed"}` {
		t.Fatalf("GET of the resource: %q %q", r.out, r.errOut)
	}
	// The device's observation ends: it deregisters, or stops answering.
	conntest.Eventually(t, wait, "the observation to end", func() bool { return observers(t, m, cmds, "boiler-7") == "0" })
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	in, _ := spec.Lookup(coap.NodeType)
	cases := map[string]map[string]any{
		"listen":          {"listen": "5683"},
		"paths[1]":        {"paths": []any{"/ok", "no-slash"}},
		"observePaths[0]": {"observePaths": []any{"/commands/{id}"}},
		"tokenOption":     {"tokenOption": 2049},
		"tokenQuery":      {"tokenQuery": ""},
	}
	for field, cfg := range cases {
		if ps := in.Spec.Check(cfg); len(ps) != 1 || ps[0].Field != field {
			t.Errorf("config %v: problems %v, want one on %q", cfg, ps, field)
		}
	}
	out, _ := spec.Lookup(coap.NotifyType)
	if ps := out.Spec.Check(map[string]any{"path": "commands"}); len(ps) != 1 || ps[0].Field != "path" {
		t.Errorf("coapNotify path: %v", ps)
	}
}

func TestSpecExamplesAreValid(t *testing.T) {
	for _, typ := range []string{coap.NodeType, coap.NotifyType} {
		r, _ := spec.Lookup(typ)
		for _, ex := range r.Spec.Examples {
			if ps := r.Spec.Check(ex.Config); len(ps) != 0 {
				t.Errorf("%s example %q: %v", typ, ex.Title, ps)
			}
		}
		for _, f := range r.Spec.Fields {
			if f.Help == "" {
				t.Errorf("%s field %s has no help", typ, f.Name)
			}
		}
	}
}

func TestPortInUseIsReported(t *testing.T) {
	m := newManager(t, engine.Options{})
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	conntest.Deploy(t, m, tenant, ingestFlow("busy", map[string]any{"listen": busy.LocalAddr().String()}, conntest.RecordType), 1)
	if st := conntest.Status(t, m, "busy"); st.State != engine.StateError || !strings.Contains(st.LastError, "address already in use") {
		t.Fatalf("status = %+v", st)
	}
}
