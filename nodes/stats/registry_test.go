package stats

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/backtest"
	"github.com/sluicehq/sluice/store"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

// registryData writes the known data plus temperature points at 9:30 of
// the meters m1 to m4 and of n1 — stored without any series tags, as the
// time-series sink writes them — and registers devices with tags in the
// device registry:
//
//   - m1 meter, site=berlin; m2 meter; m3 site=berlin; m4 meter (in
//     another tenant: not ours); b1 boiler (its series carry site=berlin);
//   - x9 meter, registered without any stored points;
//   - n1 is not registered.
func registryData(t *testing.T, s ts.Writer, devices store.DeviceRepo) {
	t.Helper()
	boilerData(t, s)
	var ps []ts.Point
	for i, d := range []string{"m1", "m2", "m3", "m4", "n1"} {
		ps = append(ps, pt(d, "temperature", 9*hr+30*mi, float64(i+1)))
	}
	write(t, s, ps...)
	for _, d := range []store.Device{
		{ID: "m1", Tenant: tenant, Tags: []string{"meter", "site=berlin"}},
		{ID: "m2", Tenant: tenant, Tags: []string{"meter"}},
		{ID: "m3", Tenant: tenant, Tags: []string{" site=berlin "}}, // the registry trims tags
		{ID: "m4", Tenant: "other", Tags: []string{"meter"}},
		{ID: "b1", Tenant: tenant, Tags: []string{"boiler"}},
		{ID: "x9", Tenant: tenant, Tags: []string{"meter"}},
	} {
		if _, err := devices.CreateDevice(context.Background(), d); err != nil {
			t.Fatalf("register %s: %v", d.ID, err)
		}
	}
}

// selected renders the devices of a payload's groups: "m1,m2".
func selected(p payload) string {
	var got []string
	for _, g := range p.Groups {
		got = append(got, g["deviceId"].(string))
	}
	return strings.Join(got, ",")
}

func TestDeviceTagThroughTheRegistry(t *testing.T) {
	// Page through the registry two devices at a time.
	defer func(n int) { registryPage = n }(registryPage)
	registryPage = 2

	dir := t.TempDir()
	s := openTS(t, dir)
	db := openDB(t, dir)
	registryData(t, s, db.Devices())
	for _, tc := range []struct {
		name string
		sel  map[string]any
		want string
	}{
		{"a plain tag", map[string]any{"deviceTag": "meter"}, "m1,m2"},
		{"spaces around the tag", map[string]any{"deviceTag": " meter "}, "m1,m2"},
		{"key=value: registry tags and series tags", map[string]any{"deviceTag": "site=berlin"}, "b1,b2,m1,m3"},
		{"with a glob", map[string]any{"deviceTag": "site=berlin", "deviceGlob": "m*"}, "m1,m3"},
		{"a registry tag of a device whose series carry another", map[string]any{"deviceTag": "boiler"}, "b1"},
		{"series tags still count", map[string]any{"deviceTag": "site=paris"}, "p1"},
		{"ids plus a tag", map[string]any{"devices": []any{"n1"}, "deviceTag": "meter"}, "m1,m2,n1"},
		{"a tag nobody has", map[string]any{"deviceTag": "gas"}, ""},
		{"a prefix of a tag is not the tag", map[string]any{"deviceTag": "site"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"signals": []any{"temperature"}, "aggregates": []any{"count"}}
			for k, v := range tc.sel {
				cfg[k] = v
			}
			r := newRig(t, rigOpts{store: s, records: db.Stats()})
			r.mgr.Resources().Provide(DevicesKey, db.Devices())
			r.deploy(cfg, 1)
			if got := selected(stats(t, r.tick(10*hr))[0]); got != tc.want {
				t.Fatalf("selected %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDeviceTagWithoutARegistry(t *testing.T) {
	dir := t.TempDir()
	s := openTS(t, dir)
	db := openDB(t, dir)
	registryData(t, s, db.Devices())
	r := newRig(t, rigOpts{store: s})
	// key=value: the series tags only (the registry's m1 and m3 are not seen).
	r.deploy(map[string]any{"deviceTag": "site=berlin", "signals": []any{"temperature"}, "aggregates": []any{"count"}}, 1)
	if got := selected(stats(t, r.tick(10*hr))[0]); got != "b1,b2" {
		t.Fatalf("selected %q", got)
	}
	// A plain tag cannot be resolved: Failure that says why, not an empty
	// selection.
	r.deploy(map[string]any{"deviceTag": "meter", "signals": []any{"temperature"}}, 2)
	res := r.tick(11 * hr)
	if res.Status != engine.StatusFailed || !strings.Contains(res.Error, `deviceTag "meter": no device registry: only the device registry (stats.devices) resolves`) {
		t.Fatalf("%s %q", res.Status, res.Error)
	}
}

func TestBacktestResolvesDeviceTagThroughTheRegistry(t *testing.T) {
	dir := t.TempDir()
	s := openTS(t, dir)
	db := openDB(t, dir)
	registryData(t, s, db.Devices())
	f, _ := backtest.Lookup(Type)
	run := func(tag string, res *engine.Resources) (string, error) {
		cfg, _ := json.Marshal(map[string]any{"deviceTag": tag, "signals": []any{"temperature"}, "aggregates": []any{"count"}})
		out, err := f(context.Background(), backtest.Request{Tenant: tenant, NodeType: Type, Config: cfg,
			From: at(9 * hr), To: at(10 * hr), Reader: s, Resources: res})
		if err != nil {
			return "", err
		}
		var got []string
		for _, g := range out.Events[0].Data["groups"].([]map[string]any) {
			got = append(got, g["deviceId"].(string))
		}
		return strings.Join(got, ","), nil
	}
	mgr := newRig(t, rigOpts{}).mgr
	mgr.Resources().Provide(DevicesKey, db.Devices())
	for _, tc := range []struct {
		tag  string
		res  *engine.Resources
		want string
	}{
		{"meter", mgr.Resources(), "m1,m2"},
		{"site=berlin", mgr.Resources(), "b1,b2,m1,m3"},
		{"site=berlin", nil, "b1,b2"},
		{"site=berlin", engine.NewResources(), "b1,b2"}, // resources without a registry
	} {
		if got, err := run(tc.tag, tc.res); err != nil || got != tc.want {
			t.Errorf("%s (resources %v): %q %v, want %q", tc.tag, tc.res != nil, got, err, tc.want)
		}
	}
	_, err := run("meter", nil)
	if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), `deviceTag "meter": no device registry`) {
		t.Fatalf("a plain tag without a registry: %v", err)
	}
}
