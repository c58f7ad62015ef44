package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/alarm"
	"github.com/sluicehq/sluice/store"
)

const (
	// Page limits of GET /api/v1/alarms.
	defaultAlarmLimit = 50
	maxAlarmLimit     = 1000
	// alarmStreamBuffer is the changes buffered per WebSocket subscriber
	// before changes are dropped (and the drop reported).
	alarmStreamBuffer = 256
	// maxAlarmComment bounds an operator's comment.
	maxAlarmComment = 2000
)

// AlarmChange is a change of an alarm, as the alarm stream pushes it:
//
//	{"type":"alarm","change":"created","reason":"condition","alarm":{...}}
//
// change is created, updated, cleared or acknowledged; by is the operator
// of an acknowledge or a manual clear.
type AlarmChange struct {
	Type   string `json:"type"`
	Change string `json:"change"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
	// Queued is true for a change the records store could not take yet:
	// it waits in the recorder's outbox (alarm is the change as the node
	// made it), and GET /api/v1/alarms shows it once the outbox is written.
	Queued bool        `json:"queued,omitempty"`
	Alarm  store.Alarm `json:"alarm"`
}

// AlarmRecorder keeps alarm records for the alarm nodes (it is the process's
// alarm.Recorder, under the engine resource alarm.RecorderKey) and publishes
// every change — the nodes' and the operators' — to the alarm stream's
// subscribers. A durable recorder (NewDurableAlarmRecorder) queues the
// changes the records store cannot take in an outbox and replays them in
// order (alarm_outbox.go). It is safe for concurrent use.
type AlarmRecorder struct {
	repo store.AlarmRepo
	log  *slog.Logger
	// outbox is nil for a recorder without one (NewAlarmRecorder).
	outbox *outbox

	mu   sync.Mutex
	subs map[*alarmSub]struct{}
}

var _ alarm.Recorder = (*AlarmRecorder)(nil)

// NewAlarmRecorder returns a recorder over repo without an outbox: a change
// the repository cannot take is an error for the node (which logs it). sluice
// serve provides a durable one (NewDurableAlarmRecorder) to the engine:
// mgr.Resources().Provide(alarm.RecorderKey, rec).
func NewAlarmRecorder(repo store.AlarmRepo, log *slog.Logger) *AlarmRecorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AlarmRecorder{repo: repo, log: log, subs: map[*alarmSub]struct{}{}}
}

// RecordAlarm implements alarm.Recorder. A durable recorder returns an
// error only for a change the repository refuses for good
// (store.ErrInvalidAlarm) or when the outbox cannot be written either.
func (r *AlarmRecorder) RecordAlarm(ctx context.Context, c alarm.Change) error {
	if r.outbox != nil {
		return r.recordDurably(ctx, c)
	}
	stored, err := r.record(ctx, c)
	if err != nil {
		return err
	}
	r.publish(AlarmChange{Type: "alarm", Change: c.Kind, Reason: c.Reason, Alarm: stored})
	return nil
}

// record writes c to the repository.
func (r *AlarmRecorder) record(ctx context.Context, c alarm.Change) (store.Alarm, error) {
	ev := c.Event
	a := store.Alarm{
		ID: ev.AlarmID, Tenant: c.Tenant, FlowID: c.FlowID, NodeID: c.NodeID, Rule: ev.Rule, DeviceID: ev.DeviceID,
		Severity: ev.Severity, Status: ev.Status, Acknowledged: ev.Acknowledged, Value: ev.Value, Signals: ev.Signals,
		Count: ev.Count, Since: ev.Since, Ts: ev.Ts, CommandKey: c.CommandKey,
	}
	return r.repo.RecordAlarm(ctx, a, store.AlarmHistoryEntry{Kind: c.Kind, Reason: c.Reason})
}

// alarmSub is one subscriber of alarm changes of a tenant.
type alarmSub struct {
	r       *AlarmRecorder
	tenant  string
	ch      chan AlarmChange
	dropped atomic.Uint64
}

// subscribe returns a subscription to the changes of tenant's alarms.
func (r *AlarmRecorder) subscribe(tenant string, buffer int) *alarmSub {
	s := &alarmSub{r: r, tenant: tenant, ch: make(chan AlarmChange, buffer)}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	return s
}

func (s *alarmSub) close() {
	s.r.mu.Lock()
	delete(s.r.subs, s)
	s.r.mu.Unlock()
}

// publish hands a change to the subscribers of its tenant; a subscriber
// that reads too slowly loses it (and is told how many it lost).
func (r *AlarmRecorder) publish(c AlarmChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.subs {
		if s.tenant != c.Alarm.Tenant {
			continue
		}
		select {
		case s.ch <- c:
		default:
			s.dropped.Add(1)
		}
	}
}

// ensureAlarmRecorder makes sure the engine has an alarm recorder: the one
// sluice serve provides, or else one over the server's store, which the
// server holds for its lifetime. It runs once, when the routes are built.
func (s *Server) ensureAlarmRecorder() {
	if s.engine == nil || s.db == nil {
		return
	}
	// Acquired and never released: the recorder lives as long as the
	// server, whose Shutdown closes it (closeAlarmRecorders).
	_, _, err := s.engine.Resources().Acquire(alarm.RecorderKey, func() (any, func() error, error) {
		ctx, cancel := context.WithTimeout(context.Background(), alarmOutboxWriteTimeout)
		defer cancel()
		rec, err := NewDurableAlarmRecorder(ctx, s.alarms, s.db.KV(), s.log, AlarmRecorderOptions{})
		if err != nil {
			s.log.Error("alarm recorder without an outbox: changes the records store cannot take are lost", "err", err)
			rec = NewAlarmRecorder(s.alarms, s.log)
		}
		s.ownAlarmRec = rec
		return rec, nil, nil
	})
	if err != nil {
		s.log.Error("alarm recorder not available", "err", err)
	}
}

// closeAlarmRecorders closes the alarm recorder the engine uses and the
// one the server made (when another replaced it): their outbox drains stop
// and are waited for. Shutdown calls it once the engine has drained (no
// node records anything any more) and before the store closes; what waits
// in an outbox is replayed at the next start.
func (s *Server) closeAlarmRecorders() {
	for _, rec := range []*AlarmRecorder{s.alarmRecorder(), s.ownAlarmRec} {
		if rec != nil {
			if err := rec.Close(); err != nil {
				s.log.Warn("close the alarm recorder", "err", err)
			}
		}
	}
}

// alarmRecorder is the process's alarm recorder when it is this package's
// (nil otherwise: then changes are not streamed).
func (s *Server) alarmRecorder() *AlarmRecorder {
	if s.engine == nil {
		return nil
	}
	v, release, err := s.engine.Resources().Acquire(alarm.RecorderKey, func() (any, func() error, error) {
		return nil, nil, errors.New("no alarm recorder")
	})
	if err != nil {
		return nil
	}
	_ = release() // the provider holds it
	rec, _ := v.(*AlarmRecorder)
	return rec
}

// alarmRoutes are the routes of the alarm API.
func (s *Server) alarmRoutes() []route {
	s.ensureAlarmRecorder()
	qp := func(name, typ, desc string) param { return param{Name: name, Type: typ, Desc: desc} }
	filters := []param{
		qp("device", "string", "Only this device."),
		qp("rule", "string", "Only this rule (alarm name)."),
		qp("flow", "string", "Only alarms of this flow."),
		qp("severity", "string", "Only these severities, comma-separated: critical, major, minor, warning, info."),
	}
	ws := websocket.New(func(conn *websocket.Conn) {
		if !s.startStream() {
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"))
			return
		}
		defer s.streams.Done()
		p, _ := conn.Locals(principalKey).(principal)
		f := alarmStreamFilter{device: conn.Query("device"), rule: conn.Query("rule"), flow: conn.Query("flow")}
		if sev := conn.Query("severity"); sev != "" {
			f.severities = strings.Split(sev, ",")
		}
		s.streamAlarms(conn, p.Tenant, f)
	})
	return []route{
		{Method: http.MethodGet, Path: APIPrefix + "/alarms", Summary: "List alarms, newest first, with filters; answers {items, total}.", Tag: "alarms", Auth: true,
			Query: append([]param{
				qp("status", "string", "active or cleared."),
				qp("acknowledged", "boolean", "Only acknowledged (true) or unacknowledged (false) alarms."),
				qp("from", "string", "Only alarms active since this time or later (RFC 3339, or Unix milliseconds)."),
				qp("to", "string", "Only alarms active since before this time (RFC 3339, or Unix milliseconds)."),
				qp("limit", "integer", "Page size (default 50, at most 1000)."),
				qp("offset", "integer", "Skip this many."),
			}, filters...), Handler: s.listAlarms},
		// Before /alarms/:id, which would take "stream" for an id.
		{Method: http.MethodGet, Path: APIPrefix + "/alarms/stream", Summary: "WebSocket pushing every change of your tenant's alarms as {type:\"alarm\", change, reason, by, alarm}; authenticate with ?ticket=.", Tag: "alarms",
			Auth: true, WebSocket: true, Status: http.StatusSwitchingProtocols,
			Query: append([]param{qp("ticket", "string", "A ticket from POST /api/v1/auth/ticket.")}, filters...),
			Handler: func(c *fiber.Ctx) error {
				if !websocket.IsWebSocketUpgrade(c) {
					return newError(http.StatusUpgradeRequired, CodeUpgradeRequired, "alarm stream: this route is a WebSocket; connect with ws:// and ?ticket=")
				}
				if sev := c.Query("severity"); sev != "" {
					if _, err := severitiesOf(sev); err != nil {
						return err
					}
				}
				return ws(c)
			}},
		{Method: http.MethodGet, Path: APIPrefix + "/alarms/:id", Summary: "One alarm with its history of changes (oldest first).", Tag: "alarms", Auth: true, Handler: s.getAlarm},
		{Method: http.MethodPost, Path: APIPrefix + "/alarms/:id/ack", Summary: "Acknowledge an alarm, with an optional {\"comment\"}; reminders stop. Acknowledging twice changes nothing.", Tag: "alarms", Auth: true, Handler: s.ackAlarm},
		{Method: http.MethodPost, Path: APIPrefix + "/alarms/:id/clear", Summary: "Clear an active alarm, with an optional {\"comment\"}; if its condition still holds, the node raises a new alarm.", Tag: "alarms", Auth: true, Handler: s.clearAlarm},
	}
}

// AlarmPage is the answer of GET /api/v1/alarms.
type AlarmPage struct {
	Items []store.Alarm `json:"items"`
	Total int           `json:"total"`
}

// AlarmDetail is the answer of GET /api/v1/alarms/{id}.
type AlarmDetail struct {
	store.Alarm
	History []store.AlarmHistoryEntry `json:"history"`
}

// AlarmActionRequest is the optional body of the ack and clear routes.
type AlarmActionRequest struct {
	Comment string `json:"comment,omitempty"`
}

func severitiesOf(list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains([]string{"critical", "major", "minor", "warning", "info"}, s) {
			return nil, badRequest("query severity: want critical, major, minor, warning or info (comma-separated), got %q", s)
		}
		out = append(out, s)
	}
	return out, nil
}

// timeQuery parses an optional time: RFC 3339 or Unix milliseconds.
func timeQuery(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("query %s: want an RFC 3339 time or Unix milliseconds, got %q", name, v)
	}
	return t, nil
}

func (s *Server) listAlarms(c *fiber.Ctx) error {
	p := principalOf(c)
	f := store.AlarmFilter{Tenant: p.Tenant, DeviceID: c.Query("device"), Rule: c.Query("rule"), FlowID: c.Query("flow")}
	switch st := c.Query("status"); st {
	case "", store.AlarmActive, store.AlarmCleared:
		f.Status = st
	default:
		return badRequest("query status: want active or cleared, got %q", st)
	}
	if c.Query("acknowledged") != "" {
		ack, err := boolQuery(c, "acknowledged")
		if err != nil {
			return err
		}
		f.Acknowledged = &ack
	}
	if sev := c.Query("severity"); sev != "" {
		var err error
		if f.Severities, err = severitiesOf(sev); err != nil {
			return err
		}
	}
	var err error
	if f.From, err = timeQuery(c, "from"); err != nil {
		return err
	}
	if f.To, err = timeQuery(c, "to"); err != nil {
		return err
	}
	if f.Limit, err = intQuery(c, "limit", defaultAlarmLimit); err != nil {
		return err
	}
	if f.Offset, err = intQuery(c, "offset", 0); err != nil {
		return err
	}
	if f.Limit < 1 || f.Limit > maxAlarmLimit {
		return badRequest("query limit: want 1 to %d, got %d", maxAlarmLimit, f.Limit)
	}
	if f.Offset < 0 {
		return badRequest("query offset: want 0 or more, got %d", f.Offset)
	}
	items, total, err := s.alarms.ListAlarms(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(AlarmPage{Items: items, Total: total})
}

func (s *Server) getAlarm(c *fiber.Ctx) error {
	p := principalOf(c)
	repo := s.alarms
	a, err := repo.AlarmByID(c.UserContext(), p.Tenant, c.Params("id"))
	if err != nil {
		return err
	}
	h, err := repo.AlarmHistory(c.UserContext(), p.Tenant, a.ID)
	if err != nil {
		return err
	}
	return c.JSON(AlarmDetail{Alarm: a, History: h})
}

func (s *Server) ackAlarm(c *fiber.Ctx) error {
	return s.alarmAction(c, store.AlarmAcknowledged, s.alarms.AckAlarm)
}

func (s *Server) clearAlarm(c *fiber.Ctx) error {
	return s.alarmAction(c, store.AlarmCleared, s.alarms.ClearAlarm)
}

// alarmAction records an operator's acknowledge or clear, publishes it, and
// tells the alarm's node (see nodes/alarm, command.go): the node stops the
// reminders of an acknowledged alarm, and starts over after a clear.
func (s *Server) alarmAction(c *fiber.Ctx, kind string, apply func(ctx context.Context, tenant, id, user, comment string) (store.Alarm, bool, error)) error {
	p := principalOf(c)
	var req AlarmActionRequest
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	if len(req.Comment) > maxAlarmComment {
		return badRequest("comment: want at most %d bytes", maxAlarmComment)
	}
	a, changed, err := apply(c.UserContext(), p.Tenant, c.Params("id"), p.Username, req.Comment)
	if err != nil {
		return err
	}
	if !changed {
		return c.JSON(a)
	}
	if rec := s.alarmRecorder(); rec != nil {
		rec.publish(AlarmChange{Type: "alarm", Change: kind, Reason: "manual", By: p.Username, Alarm: a})
	}
	act := &alarm.Action{By: p.Username, Comment: req.Comment, At: time.Now().UTC()}
	cmd := alarm.Command{AlarmID: a.ID}
	if kind == store.AlarmAcknowledged {
		cmd.Ack = act
	} else {
		cmd.Clear = act
	}
	s.tellAlarmNode(a, cmd)
	return c.JSON(a)
}

// tellAlarmNode leaves cmd for the alarm's node and, when its flow runs
// here, starts the node on the device so that it applies it at once. A
// node that does not run now applies it when it next sees the device.
func (s *Server) tellAlarmNode(a store.Alarm, cmd alarm.Command) {
	if s.engine == nil || a.CommandKey == "" {
		return
	}
	ctx, cancel := s.requestContext()
	defer cancel()
	if err := alarm.SendCommand(ctx, s.engine.State(), a.CommandKey, cmd); err != nil {
		s.log.Warn("alarm command not stored: the node will not learn of it", "alarmId", a.ID, "err", err)
		return
	}
	f, _, ok := s.engine.DeployedFlowDoc(a.FlowID)
	if !ok || s.checkOwner(a.Tenant, a.FlowID) != nil {
		return
	}
	if _, ok := f.NodeByID(a.NodeID); !ok {
		return
	}
	if _, err := s.engine.Submit(ctx, a.FlowID, alarm.CommandMessage(a.DeviceID), engine.SubmitOptions{StartNode: a.NodeID, FailFast: true}); err != nil {
		s.log.Info("alarm command waits for the device's next sample", "alarmId", a.ID, "err", err)
	}
}

// alarmStreamFilter narrows the alarm stream.
type alarmStreamFilter struct {
	device, rule, flow string
	severities         []string
}

func (f alarmStreamFilter) match(a store.Alarm) bool {
	return (f.device == "" || a.DeviceID == f.device) && (f.rule == "" || a.Rule == f.rule) &&
		(f.flow == "" || a.FlowID == f.flow) && (len(f.severities) == 0 || slices.Contains(f.severities, a.Severity))
}

// streamAlarms pushes the changes of tenant's alarms until the client goes
// or the server stops. The first message is {"type":"subscribed"}; lost
// changes are reported as {"type":"dropped","count":n}.
func (s *Server) streamAlarms(conn *websocket.Conn, tenant string, f alarmStreamFilter) {
	rec := s.alarmRecorder()
	if rec == nil {
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "alarm stream not available in this process"))
		return
	}
	sub := rec.subscribe(tenant, alarmStreamBuffer)
	defer sub.close()
	st := openStream(conn, s.log.With("alarmStream", tenant))
	defer st.close()
	if !st.write(Notice{Type: "subscribed"}) {
		return
	}
	tick := time.NewTicker(traceTick)
	defer tick.Stop()
	for {
		select {
		case ch := <-sub.ch:
			if !st.dropped(sub.dropped.Load()) || f.match(ch.Alarm) && !st.write(ch) {
				return
			}
		case <-tick.C:
			if !st.dropped(sub.dropped.Load()) || !st.tick() {
				return
			}
		case <-st.gone:
			return
		case <-s.stop:
			st.goingAway()
			return
		}
	}
}
