package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/store/timeseries"
)

// CodeUnavailable: a part of the server is not configured or not running.
const CodeUnavailable = "unavailable"

const (
	// defaultTelemetryWindow is the range of a telemetry query without from.
	defaultTelemetryWindow = time.Hour
	// telemetryBuckets is about how many buckets per series an aggregate
	// without every gets: a chart's worth.
	telemetryBuckets = 500
)

// niceSteps are the bucket widths an aggregate without every chooses from.
var niceSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
}

// TelemetryAnswer is the answer of GET /api/v1/telemetry: the query as
// understood (times in Unix milliseconds) and the series, by device then
// signal. Points are {ts, value} (aggregates: the bucket's start, and the
// count of values it covers).
type TelemetryAnswer struct {
	From   int64               `json:"from"`
	To     int64               `json:"to"`
	Agg    string              `json:"agg,omitempty"`
	Every  string              `json:"every,omitempty"`
	Series []timeseries.Series `json:"series"`
	// NextOffset is the offset of the next page; absent on the last page.
	NextOffset int `json:"nextOffset,omitempty"`
}

// LatestValue is a signal's latest value.
type LatestValue struct {
	TS    int64            `json:"ts"`
	Value timeseries.Value `json:"value"`
}

// LatestAnswer is the answer of GET /api/v1/telemetry/latest.
type LatestAnswer struct {
	Device  string                 `json:"deviceId"`
	Signals map[string]LatestValue `json:"signals"`
}

// telemetryRoutes are the routes of the telemetry read API.
func (s *Server) telemetryRoutes() []route {
	qp := func(name, typ, desc string) param { return param{Name: name, Type: typ, Desc: desc} }
	return []route{
		{Method: http.MethodGet, Path: APIPrefix + "/telemetry", Tag: "telemetry", Auth: true,
			Summary: "Stored telemetry of devices: the raw points or one aggregate per time bucket, per signal, over [from, to).",
			Query: []param{
				qp("device", "string", "Device id; repeat it or separate ids with commas (at least one)."),
				qp("signal", "string", "Signal name; repeat it or separate names with commas (absent: every signal)."),
				qp("from", "string", "Start, inclusive: RFC 3339 or Unix milliseconds (default: to minus 1h)."),
				qp("to", "string", "End, exclusive: RFC 3339 or Unix milliseconds (default: now)."),
				qp("agg", "string", "Aggregate per bucket: avg, min, max, sum, count, first or last (absent or raw: the points)."),
				qp("every", "string", "Bucket width with agg, a duration such as 1m or 1h (default: about 500 buckets over the range); buckets align to the Unix epoch (UTC)."),
				qp("limit", "integer", fmt.Sprintf("Page size in points or buckets over all series (default %d, at most %d).", timeseries.DefaultLimit, timeseries.MaxLimit)),
				qp("offset", "integer", "Skip this many points or buckets (nextOffset of the previous page)."),
			}, Handler: s.queryTelemetry},
		{Method: http.MethodGet, Path: APIPrefix + "/telemetry/latest", Tag: "telemetry", Auth: true,
			Summary: "The latest stored value of each signal of a device.",
			Query:   []param{qp("device", "string", "Device id.")}, Handler: s.latestTelemetry},
		{Method: http.MethodGet, Path: APIPrefix + "/telemetry/devices", Tag: "telemetry", Auth: true,
			Summary: "The devices that have stored telemetry, by id, with the tags of their series.", Handler: s.telemetryDevices},
	}
}

func (s *Server) telemetryStore() (timeseries.Reader, error) {
	if s.telemetry == nil {
		return nil, newError(http.StatusServiceUnavailable, CodeUnavailable, "no time-series store is configured in this server")
	}
	return s.telemetry, nil
}

func (s *Server) queryTelemetry(c *fiber.Ctx) error {
	store, err := s.telemetryStore()
	if err != nil {
		return err
	}
	q, err := telemetryQuery(c, time.Now())
	if err != nil {
		return err
	}
	q.Tenant = principalOf(c).Tenant
	res, err := store.Query(c.UserContext(), q)
	if err != nil {
		return telemetryError(err)
	}
	out := TelemetryAnswer{From: q.From, To: q.To, Agg: string(q.Agg), Series: res.Series, NextOffset: res.NextOffset}
	if q.Agg != timeseries.AggNone {
		out.Every = q.Every.String()
	}
	return c.JSON(out)
}

func (s *Server) latestTelemetry(c *fiber.Ctx) error {
	store, err := s.telemetryStore()
	if err != nil {
		return err
	}
	device := strings.TrimSpace(c.Query("device"))
	if device == "" {
		return badRequest("query device: want a device id")
	}
	ls, err := store.Latest(c.UserContext(), principalOf(c).Tenant, device)
	if err != nil {
		return telemetryError(err)
	}
	out := LatestAnswer{Device: device, Signals: make(map[string]LatestValue, len(ls))}
	for _, l := range ls {
		out.Signals[l.Signal] = LatestValue{TS: l.TS, Value: l.Value}
	}
	return c.JSON(out)
}

// DevicesAnswer is the answer of GET /api/v1/telemetry/devices.
type DevicesAnswer struct {
	Devices []timeseries.DeviceInfo `json:"devices"`
}

func (s *Server) telemetryDevices(c *fiber.Ctx) error {
	store, err := s.telemetryStore()
	if err != nil {
		return err
	}
	ds, err := store.Devices(c.UserContext(), principalOf(c).Tenant)
	if err != nil {
		return telemetryError(err)
	}
	return c.JSON(DevicesAnswer{Devices: ds})
}

// telemetryError answers 400 for a query the store cannot answer.
func telemetryError(err error) error {
	if errors.Is(err, timeseries.ErrBadQuery) {
		e := badRequest("%s", err.Error())
		e.cause = err
		return e
	}
	return err
}

// telemetryQuery reads the query parameters of GET /api/v1/telemetry.
func telemetryQuery(c *fiber.Ctx, now time.Time) (timeseries.Query, error) {
	var q timeseries.Query
	q.Devices = multiQuery(c, "device")
	if len(q.Devices) == 0 {
		return q, badRequest("query device: want at least one device id")
	}
	q.Signals = multiQuery(c, "signal")
	q.To = now.UnixMilli()
	if v := c.Query("to"); v != "" {
		t, err := parseTimeParam(v)
		if err != nil {
			return q, badRequest("query to: %s", err.Error())
		}
		q.To = t
	}
	q.From = q.To - defaultTelemetryWindow.Milliseconds()
	if v := c.Query("from"); v != "" {
		t, err := parseTimeParam(v)
		if err != nil {
			return q, badRequest("query from: %s", err.Error())
		}
		q.From = t
	}
	if q.To <= q.From {
		return q, badRequest("query from, to: to must be after from")
	}
	agg, err := timeseries.ParseAgg(c.Query("agg"))
	if err != nil {
		return q, badRequest("query %s", strings.TrimSuffix(err.Error(), ": "+timeseries.ErrBadQuery.Error()))
	}
	q.Agg = agg
	if v := c.Query("every"); v != "" {
		if agg == timeseries.AggNone {
			return q, badRequest("query every: only with agg")
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Millisecond {
			return q, badRequest("query every: want a duration of 1ms or more such as 1m or 1h, got %q", v)
		}
		q.Every = d
	} else if agg != timeseries.AggNone {
		q.Every = autoEvery(time.Duration(q.To-q.From) * time.Millisecond)
	}
	if q.Limit, err = intQuery(c, "limit", timeseries.DefaultLimit); err != nil {
		return q, err
	}
	if q.Limit < 1 || q.Limit > timeseries.MaxLimit {
		return q, badRequest("query limit: want 1 to %d, got %d", timeseries.MaxLimit, q.Limit)
	}
	if q.Offset, err = intQuery(c, "offset", 0); err != nil {
		return q, err
	}
	if q.Offset < 0 {
		return q, badRequest("query offset: want 0 or more, got %d", q.Offset)
	}
	return q, nil
}

// multiQuery collects a repeated, comma-separated query parameter, in
// order, without blanks and repeats.
func multiQuery(c *fiber.Ctx, name string) []string {
	var out []string
	for _, raw := range c.Context().QueryArgs().PeekMulti(name) {
		for _, v := range strings.Split(string(raw), ",") {
			if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// parseTimeParam reads Unix milliseconds or an RFC 3339 time.
func parseTimeParam(v string) (int64, error) {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t, perr := time.Parse(time.RFC3339Nano, v)
		if perr != nil {
			return 0, fmt.Errorf("want RFC 3339 (2025-11-22T10:00:00Z) or Unix milliseconds, got %q", v)
		}
		ms = t.UnixMilli()
	}
	if ms < minTimeParam || ms > maxTimeParam {
		return 0, fmt.Errorf("want a time between years 1 and 9999, got %q", v)
	}
	return ms, nil
}

// The times a query may name, in Unix milliseconds: years 1 to 9999. The
// bounds keep every difference of two times far from overflowing.
var (
	minTimeParam = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTimeParam = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
)

// autoEvery is the smallest nice bucket width that cuts span into at most
// about telemetryBuckets buckets.
func autoEvery(span time.Duration) time.Duration {
	want := span / telemetryBuckets
	for _, s := range niceSteps {
		if s >= want {
			return s
		}
	}
	return niceSteps[len(niceSteps)-1]
}
