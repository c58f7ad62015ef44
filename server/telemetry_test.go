package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/timeseries"
)

// t0 is a whole hour: minute buckets start at t0 + k minutes.
var tsT0 = time.Date(2025, 11, 22, 10, 0, 0, 0, time.UTC)

// withTelemetry gives the env's server a real embedded time-series store
// holding: device boiler-1, signal temperature, one value per 20 s for
// 3 minutes (1..9); signal mode (strings); device boiler-2, temperature
// (100); and a point of another tenant.
func withTelemetry(t *testing.T, e *env) *timeseries.Embedded {
	t.Helper()
	s, err := timeseries.Open(context.Background(), t.TempDir(), timeseries.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	e.srv.telemetry = s // before any request
	var pts []timeseries.Point
	for i := range 9 {
		at := tsT0.Add(time.Duration(i) * 20 * time.Second).UnixMilli()
		pts = append(pts,
			timeseries.Point{Tenant: store.DefaultTenant, Device: "boiler-1", Signal: "temperature", TS: at, Value: timeseries.Number(float64(i + 1))},
			timeseries.Point{Tenant: store.DefaultTenant, Device: "boiler-1", Signal: "mode", TS: at, Value: timeseries.String(fmt.Sprintf("m%d", i))},
		)
	}
	pts = append(pts,
		timeseries.Point{Tenant: store.DefaultTenant, Device: "boiler-2", Signal: "temperature", TS: tsT0.UnixMilli(), Value: timeseries.Number(100)},
		timeseries.Point{Tenant: "other", Device: "boiler-1", Signal: "temperature", TS: tsT0.UnixMilli(), Value: timeseries.Number(-1)},
	)
	if err := s.Write(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
	return s
}

type sample struct {
	TS    int64 `json:"ts"`
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

type telemetryPage struct {
	From, To   int64
	Agg, Every string
	Series     []struct {
		DeviceID string   `json:"deviceId"`
		Signal   string   `json:"signal"`
		Points   []sample `json:"points"`
	}
	NextOffset int
}

func (p telemetryPage) flat() map[string][]sample {
	out := map[string][]sample{}
	for _, s := range p.Series {
		out[s.DeviceID+"/"+s.Signal] = append(out[s.DeviceID+"/"+s.Signal], s.Points...)
	}
	return out
}

func TestTelemetryRaw(t *testing.T) {
	e := newEnv(t)
	withTelemetry(t, e)
	ms := tsT0.UnixMilli()
	from := url.QueryEscape(tsT0.Format(time.RFC3339))
	var p telemetryPage
	// Devices repeated and comma-separated; to in Unix ms, exclusive.
	e.mustDo(http.MethodGet, fmt.Sprintf("/api/v1/telemetry?device=boiler-2&device=boiler-1,boiler-9&signal=temperature&from=%s&to=%d", from, ms+40_000), "", nil, http.StatusOK, &p)
	if p.From != ms || p.To != ms+40_000 || p.Agg != "" || p.Every != "" {
		t.Errorf("echo = %d..%d %q %q", p.From, p.To, p.Agg, p.Every)
	}
	want := map[string][]sample{
		"boiler-1/temperature": {{TS: ms, Value: 1.0}, {TS: ms + 20_000, Value: 2.0}},
		"boiler-2/temperature": {{TS: ms, Value: 100.0}},
	}
	if got := p.flat(); !reflect.DeepEqual(got, want) {
		t.Errorf("series = %+v\nwant %+v", got, want)
	}
	if len(p.Series) != 2 || p.Series[0].DeviceID != "boiler-1" {
		t.Errorf("series order = %+v, want by device", p.Series)
	}
	// Every signal when none is named; strings come back as strings.
	p = telemetryPage{}
	e.mustDo(http.MethodGet, fmt.Sprintf("/api/v1/telemetry?device=boiler-1&from=%d&to=%d", ms, ms+1), "", nil, http.StatusOK, &p)
	if got := p.flat(); len(got) != 2 || got["boiler-1/mode"][0].Value != "m0" {
		t.Errorf("every signal = %+v", got)
	}
}

func TestTelemetryAggregates(t *testing.T) {
	e := newEnv(t)
	withTelemetry(t, e)
	ms := tsT0.UnixMilli()
	base := fmt.Sprintf("/api/v1/telemetry?device=boiler-1&signal=temperature&from=%d&to=%d", ms, ms+180_000)
	for agg, want := range map[string][]float64{
		"avg": {2, 5, 8}, "min": {1, 4, 7}, "max": {3, 6, 9}, "sum": {6, 15, 24}, "count": {3, 3, 3}, "first": {1, 4, 7}, "last": {3, 6, 9},
	} {
		var p telemetryPage
		e.mustDo(http.MethodGet, base+"&agg="+agg+"&every=1m", "", nil, http.StatusOK, &p)
		got := p.flat()["boiler-1/temperature"]
		if p.Agg != agg || p.Every != "1m0s" || len(got) != 3 {
			t.Fatalf("%s: answer %+v", agg, p)
		}
		for i, s := range got {
			if s.TS != ms+int64(i)*60_000 || s.Value != want[i] || s.Count != 3 {
				t.Errorf("%s bucket %d = %+v, want ts %d value %v count 3", agg, i, s, ms+int64(i)*60_000, want[i])
			}
		}
	}
	// Without every, a width that gives about 500 buckets: 3 min / 500 →
	// 1 s buckets, one point each.
	var p telemetryPage
	e.mustDo(http.MethodGet, base+"&agg=max", "", nil, http.StatusOK, &p)
	if p.Every != "1s" || len(p.flat()["boiler-1/temperature"]) != 9 {
		t.Errorf("automatic every = %q with %d buckets", p.Every, len(p.flat()["boiler-1/temperature"]))
	}
}

func TestTelemetryPages(t *testing.T) {
	e := newEnv(t)
	withTelemetry(t, e)
	ms := tsT0.UnixMilli()
	var all []sample
	offset, pages := 0, 0
	for {
		var p telemetryPage
		e.mustDo(http.MethodGet, fmt.Sprintf("/api/v1/telemetry?device=boiler-1,boiler-2&from=%d&to=%d&limit=4&offset=%d", ms, ms+3_600_000, offset), "", nil, http.StatusOK, &p)
		pages++
		n := 0
		for _, s := range p.Series {
			n += len(s.Points)
			all = append(all, s.Points...)
		}
		if n > 4 {
			t.Fatalf("page of %d points with limit 4", n)
		}
		if p.NextOffset == 0 {
			break
		}
		offset = p.NextOffset
	}
	if len(all) != 19 || pages != 5 {
		t.Errorf("%d points in %d pages, want 19 in 5", len(all), pages)
	}
}

func TestTelemetryLatest(t *testing.T) {
	e := newEnv(t)
	withTelemetry(t, e)
	var a LatestAnswer
	e.mustDo(http.MethodGet, "/api/v1/telemetry/latest?device=boiler-1", "", nil, http.StatusOK, &a)
	last := tsT0.Add(160 * time.Second).UnixMilli()
	if a.Device != "boiler-1" || len(a.Signals) != 2 || a.Signals["temperature"].TS != last ||
		a.Signals["temperature"].Value != timeseries.Number(9) || a.Signals["mode"].Value != timeseries.String("m8") {
		t.Errorf("latest = %+v", a)
	}
	// An unknown device has none.
	a = LatestAnswer{}
	e.mustDo(http.MethodGet, "/api/v1/telemetry/latest?device=nobody", "", nil, http.StatusOK, &a)
	if a.Device != "nobody" || len(a.Signals) != 0 {
		t.Errorf("latest of an unknown device = %+v", a)
	}
}

func TestTelemetryIsPerTenant(t *testing.T) {
	e := newEnv(t)
	s := withTelemetry(t, e)
	if err := s.Write(context.Background(), []timeseries.Point{{Tenant: "other", Device: "only-other", Signal: "x", TS: tsT0.UnixMilli(), Value: timeseries.Number(1)}}); err != nil {
		t.Fatal(err)
	}
	var p telemetryPage
	e.mustDo(http.MethodGet, fmt.Sprintf("/api/v1/telemetry?device=only-other,boiler-1&signal=temperature&from=%d&to=%d", tsT0.UnixMilli(), tsT0.UnixMilli()+1), "", nil, http.StatusOK, &p)
	if got := p.flat(); len(got) != 1 || got["boiler-1/temperature"][0].Value != 1.0 {
		t.Errorf("the default tenant sees %+v", got)
	}
	var a LatestAnswer
	e.mustDo(http.MethodGet, "/api/v1/telemetry/latest?device=only-other", "", nil, http.StatusOK, &a)
	if len(a.Signals) != 0 {
		t.Errorf("latest of another tenant's device = %+v", a)
	}
	var d DevicesAnswer
	e.mustDo(http.MethodGet, "/api/v1/telemetry/devices", "", nil, http.StatusOK, &d)
	if len(d.Devices) != 2 || d.Devices[0].ID != "boiler-1" || d.Devices[1].ID != "boiler-2" {
		t.Errorf("devices of the default tenant = %+v", d.Devices)
	}
}

func TestTelemetryBadRequests(t *testing.T) {
	e := newEnv(t)
	withTelemetry(t, e)
	for query, want := range map[string]string{
		"":                                    "query device: want at least one device id",
		"?device=,":                           "query device: want at least one device id",
		"?device=d&from=yesterday":            `query from: want RFC 3339 (2025-11-22T10:00:00Z) or Unix milliseconds, got "yesterday"`,
		"?device=d&from=-9223372036854775808": `query from: want a time between years 1 and 9999, got "-9223372036854775808"`,
		"?device=d&from=10&to=5":              "query from, to: to must be after from",
		"?device=d&agg=median":                `query agg "median": want one of avg, min, max, sum, count, first, last (or raw)`,
		"?device=d&every=1m":                  "query every: only with agg",
		"?device=d&agg=avg&every=soon":        `query every: want a duration of 1ms or more such as 1m or 1h, got "soon"`,
		"?device=d&limit=0":                   "query limit: want 1 to 100000, got 0",
		"?device=d&offset=-1":                 "query offset: want 0 or more, got -1",
		"?device=d&limit=x":                   `query limit: want an integer, got "x"`,
		"/latest":                             "query device: want a device id",
		"?device=d&signal=a&agg=avg&every=1":  `query every: want a duration of 1ms or more such as 1m or 1h, got "1"`,
	} {
		path := "/api/v1/telemetry" + query
		status, _, body := e.do(http.MethodGet, path, e.token, nil)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%s)", path, status, body)
			continue
		}
		if info := errorOf(t, body); info.Code != CodeBadRequest || info.Message != want {
			t.Errorf("%s: error %+v\nwant %q", path, info, want)
		}
	}
	// The store's own refusals answer 400 too.
	e.srv.telemetry = refusingReader{}
	status, _, body := e.do(http.MethodGet, "/api/v1/telemetry?device=d", e.token, nil)
	if info := errorOf(t, body); status != http.StatusBadRequest || info.Message != "query: too wide: bad query" {
		t.Errorf("a refused query: %d %+v", status, info)
	}
}

// refusingReader refuses every query as the store does a bad one.
type refusingReader struct{}

func (refusingReader) Query(context.Context, timeseries.Query) (*timeseries.Result, error) {
	return nil, fmt.Errorf("query: too wide: %w", timeseries.ErrBadQuery)
}

func (refusingReader) Latest(context.Context, string, string) ([]timeseries.Latest, error) {
	return nil, fmt.Errorf("latest: %w", timeseries.ErrBadQuery)
}

func TestTelemetryWithoutStore(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/api/v1/telemetry?device=d", "/api/v1/telemetry/latest?device=d"} {
		status, _, body := e.do(http.MethodGet, path, e.token, nil)
		if info := errorOf(t, body); status != http.StatusServiceUnavailable || info.Code != CodeUnavailable {
			t.Errorf("%s: %d %+v", path, status, info)
		}
	}
	if status, _, _ := e.do(http.MethodGet, "/api/v1/telemetry?device=d", "", nil); status != http.StatusUnauthorized {
		t.Errorf("anonymous: status %d, want 401", status)
	}
}

func (refusingReader) Devices(context.Context, string) ([]timeseries.DeviceInfo, error) {
	return nil, fmt.Errorf("devices: %w", timeseries.ErrBadQuery)
}
