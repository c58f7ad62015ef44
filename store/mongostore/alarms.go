package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/sluicehq/sluice/store"
)

// An alarm is a document of the alarms collection with _id {tenant, id};
// each change is a document of alarm_history with _id {tenant, alarmId,
// seq}, seq counting the alarm's changes (the alarm's histSeq).
//
// A change is two writes: the alarm (which counts the change in histSeq),
// then its history entry. So that a change retried after the second write
// failed does not count again (a gap in the history), the alarm keeps the
// identity of the node's last change (lastChange, see changeID) and the
// operators' changes since (opsSince): recording that change again writes
// only its history entry, as change number histSeq-opsSince, or nothing
// when it is there.
type alarmRepo struct {
	alarms, history *mongo.Collection
	// failHistory, set by tests, fails a history insert (as a lost
	// connection would) when it returns an error.
	failHistory func() error
}

var _ store.AlarmRepo = (*alarmRepo)(nil)

type alarmDoc struct {
	Tenant       string     `bson:"tenant"`
	ID           string     `bson:"id"`
	FlowID       string     `bson:"flowId"`
	NodeID       string     `bson:"nodeId"`
	Rule         string     `bson:"rule"`
	DeviceID     string     `bson:"deviceId"`
	Severity     string     `bson:"severity"`
	Status       string     `bson:"status"`
	Acknowledged bool       `bson:"acknowledged"`
	Value        *float64   `bson:"value"`
	Signals      bson.M     `bson:"signals"`
	Count        int        `bson:"count"`
	Since        int64      `bson:"since"`
	Ts           int64      `bson:"ts"`
	AckedAt      *time.Time `bson:"ackedAt"`
	AckedBy      string     `bson:"ackedBy"`
	AckComment   string     `bson:"ackComment"`
	ClearedAt    *time.Time `bson:"clearedAt"`
	ClearedBy    string     `bson:"clearedBy"`
	ClearComment string     `bson:"clearComment"`
	CommandKey   string     `bson:"commandKey"`
	CreatedAt    *time.Time `bson:"createdAt"`
	UpdatedAt    *time.Time `bson:"updatedAt"`
	HistSeq      int64      `bson:"histSeq"`
	// LastChange is the changeID of the node's last change, OpsSince the
	// operators' changes after it (each counted in HistSeq too).
	LastChange string `bson:"lastChange"`
	OpsSince   int64  `bson:"opsSince"`
}

func (d alarmDoc) alarm() store.Alarm {
	a := store.Alarm{
		ID: d.ID, Tenant: d.Tenant, FlowID: d.FlowID, NodeID: d.NodeID, Rule: d.Rule, DeviceID: d.DeviceID,
		Severity: d.Severity, Status: d.Status, Acknowledged: d.Acknowledged, Value: d.Value, Count: d.Count,
		Since: d.Since, Ts: d.Ts, AckedAt: fromDate(d.AckedAt), AckedBy: d.AckedBy, AckComment: d.AckComment,
		ClearedAt: fromDate(d.ClearedAt), ClearedBy: d.ClearedBy, ClearComment: d.ClearComment, CommandKey: d.CommandKey,
		CreatedAt: fromDate(d.CreatedAt), UpdatedAt: fromDate(d.UpdatedAt),
	}
	a.Signals, _ = fromBSON(d.Signals).(map[string]any)
	if a.Signals == nil {
		a.Signals = map[string]any{}
	}
	return a
}

type historyDoc struct {
	Seq          int64      `bson:"seq"`
	At           *time.Time `bson:"at"`
	Kind         string     `bson:"kind"`
	Reason       string     `bson:"reason"`
	Severity     string     `bson:"severity"`
	Status       string     `bson:"status"`
	Acknowledged bool       `bson:"acknowledged"`
	Value        *float64   `bson:"value"`
	Count        int        `bson:"count"`
	Ts           int64      `bson:"ts"`
	By           string     `bson:"by"`
	Comment      string     `bson:"comment"`
}

func alarmKey(tenant, id string) bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "tenant", Value: tenant}, {Key: "id", Value: id}}}}
}

var alarmSeverities = []string{"critical", "major", "minor", "warning", "info"}

func checkAlarm(a store.Alarm) error {
	switch {
	case a.ID == "":
		return fmt.Errorf("alarm: no id: %w", store.ErrInvalidAlarm)
	case a.Rule == "" || a.DeviceID == "":
		return fmt.Errorf("alarm %s: want a rule and a device: %w", a.ID, store.ErrInvalidAlarm)
	case a.Status != store.AlarmActive && a.Status != store.AlarmCleared:
		return fmt.Errorf("alarm %s: status %q: want active or cleared: %w", a.ID, a.Status, store.ErrInvalidAlarm)
	}
	for _, s := range alarmSeverities {
		if a.Severity == s {
			return nil
		}
	}
	return fmt.Errorf("alarm %s: severity %q: want one of %s: %w", a.ID, a.Severity, strings.Join(alarmSeverities, ", "), store.ErrInvalidAlarm)
}

// changeID identifies a change a node records: recording the same change
// again (a retry) is not a new change.
func changeID(a store.Alarm, h store.AlarmHistoryEntry) string {
	v := "-"
	if a.Value != nil {
		v = strconv.FormatFloat(*a.Value, 'g', -1, 64)
	}
	return strings.Join([]string{h.Kind, h.Reason, a.Status, a.Severity, strconv.Itoa(max(a.Count, 1)),
		strconv.FormatInt(a.Since, 10), strconv.FormatInt(a.Ts, 10), v}, "|")
}

// RecordAlarm implements store.AlarmRepo: it inserts a new alarm, or
// updates the alarm's severity, value, signals, count and time, and its
// status only while it is active (an operator's clear stays); then it
// appends h to the history. The same change recorded again right after
// (a retry: same kind, reason, status, severity, count, since, ts and
// value) only completes its history entry if an earlier attempt failed
// between the two writes.
func (r *alarmRepo) RecordAlarm(ctx context.Context, a store.Alarm, h store.AlarmHistoryEntry) (store.Alarm, error) {
	a.Tenant = tenantOr(a.Tenant)
	if err := checkAlarm(a); err != nil {
		return store.Alarm{}, fmt.Errorf("record alarm: %w", err)
	}
	if h.Kind == "" {
		h.Kind = store.AlarmUpdated
	}
	id := changeID(a, h)
	signals, err := jsonLike(a.Signals)
	if err != nil || signals == nil {
		signals = map[string]any{}
	}
	at := now()
	var cleared any
	if a.Status == store.AlarmCleared {
		cleared = at
	}
	key := alarmKey(a.Tenant, a.ID)
	doc := append(key, bson.D{
		{Key: "tenant", Value: a.Tenant}, {Key: "id", Value: a.ID}, {Key: "flowId", Value: a.FlowID}, {Key: "nodeId", Value: a.NodeID},
		{Key: "rule", Value: a.Rule}, {Key: "deviceId", Value: a.DeviceID}, {Key: "severity", Value: a.Severity},
		{Key: "status", Value: a.Status}, {Key: "acknowledged", Value: a.Acknowledged}, {Key: "value", Value: a.Value},
		{Key: "signals", Value: toBSON(signals)}, {Key: "count", Value: max(a.Count, 1)}, {Key: "since", Value: a.Since},
		{Key: "ts", Value: a.Ts}, {Key: "ackedAt", Value: nil}, {Key: "ackedBy", Value: ""}, {Key: "ackComment", Value: ""},
		{Key: "clearedAt", Value: cleared}, {Key: "clearedBy", Value: ""}, {Key: "clearComment", Value: ""},
		{Key: "commandKey", Value: a.CommandKey}, {Key: "createdAt", Value: at}, {Key: "updatedAt", Value: at},
		{Key: "histSeq", Value: int64(1)}, {Key: "lastChange", Value: id}, {Key: "opsSince", Value: int64(0)},
	}...)
	var stored alarmDoc
	_, err = r.alarms.InsertOne(ctx, doc)
	switch {
	case err == nil:
		raw, err := bson.Marshal(doc)
		if err == nil {
			err = bson.Unmarshal(raw, &stored)
		}
		if err != nil {
			return store.Alarm{}, fmt.Errorf("record alarm %s: %w", a.ID, err)
		}
	case isDuplicate(err):
		// An alarm the node has raised before.
		set := bson.D{
			{Key: "severity", Value: a.Severity}, {Key: "value", Value: a.Value}, {Key: "signals", Value: toBSON(signals)},
			{Key: "count", Value: max(a.Count, 1)}, {Key: "ts", Value: a.Ts}, {Key: "updatedAt", Value: at},
			{Key: "lastChange", Value: id}, {Key: "opsSince", Value: int64(0)},
		}
		// While it is active, the node's status applies.
		active := append(slices.Clone(set), bson.E{Key: "status", Value: a.Status})
		if a.Status == store.AlarmCleared {
			active = append(active, bson.E{Key: "clearedAt", Value: at})
		}
		// Not when this change is the alarm's last one: a retry.
		fresh := bson.E{Key: "lastChange", Value: bson.D{{Key: "$ne", Value: id}}}
		count := bson.D{{Key: "histSeq", Value: int64(1)}}
		err = r.change(ctx, append(alarmKey(a.Tenant, a.ID), bson.E{Key: "status", Value: store.AlarmActive}, fresh), active, count, &stored)
		if errors.Is(err, mongo.ErrNoDocuments) {
			err = r.change(ctx, append(alarmKey(a.Tenant, a.ID), fresh), set, count, &stored)
		}
		if errors.Is(err, mongo.ErrNoDocuments) {
			err = r.alarms.FindOne(ctx, alarmKey(a.Tenant, a.ID)).Decode(&stored)
			switch {
			case errors.Is(err, mongo.ErrNoDocuments):
				err = fmt.Errorf("removed meanwhile: %w", store.ErrNotFound)
			case err == nil && stored.LastChange != id:
				err = errors.New("changed meanwhile: try again")
			case err == nil:
				// Written before: this is its history entry, if missing.
				stored.HistSeq -= stored.OpsSince
			}
		}
		if err != nil {
			return store.Alarm{}, fmt.Errorf("record alarm %s: %w", a.ID, err)
		}
	default:
		return store.Alarm{}, fmt.Errorf("record alarm %s: %w", a.ID, err)
	}
	h.At = at
	if err := r.addHistory(ctx, stored, stored.HistSeq, h); err != nil {
		return store.Alarm{}, fmt.Errorf("record alarm %s: %w", a.ID, err)
	}
	return stored.alarm(), nil
}

// change sets fields of the alarm filter matches, adds inc to its counters
// (histSeq counts a change) and decodes the alarm as changed into out
// (mongo.ErrNoDocuments when none matches).
func (r *alarmRepo) change(ctx context.Context, filter, set, inc bson.D, out *alarmDoc) error {
	update := bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: inc}}
	return r.alarms.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(out)
}

// addHistory appends h, completed from the alarm's stored state, as the
// alarm's change number seq; an entry there already is kept (written
// before).
func (r *alarmRepo) addHistory(ctx context.Context, d alarmDoc, seq int64, h store.AlarmHistoryEntry) error {
	if h.Value == nil {
		h.Value = d.Value
	}
	if r.failHistory != nil {
		if err := r.failHistory(); err != nil {
			return fmt.Errorf("add history: %w", err)
		}
	}
	_, err := r.history.InsertOne(ctx, bson.D{
		{Key: "_id", Value: bson.D{{Key: "tenant", Value: d.Tenant}, {Key: "alarmId", Value: d.ID}, {Key: "seq", Value: seq}}},
		{Key: "tenant", Value: d.Tenant}, {Key: "alarmId", Value: d.ID}, {Key: "seq", Value: seq},
		{Key: "at", Value: date(h.At)}, {Key: "kind", Value: h.Kind}, {Key: "reason", Value: h.Reason},
		{Key: "severity", Value: d.Severity}, {Key: "status", Value: d.Status}, {Key: "acknowledged", Value: d.Acknowledged},
		{Key: "value", Value: h.Value}, {Key: "count", Value: d.Count}, {Key: "ts", Value: d.Ts},
		{Key: "by", Value: h.By}, {Key: "comment", Value: h.Comment},
	})
	if err != nil && !isDuplicate(err) { // a duplicate: written before
		return fmt.Errorf("add history: %w", err)
	}
	return nil
}

// AckAlarm implements store.AlarmRepo.
func (r *alarmRepo) AckAlarm(ctx context.Context, tenant, id, user, comment string) (store.Alarm, bool, error) {
	at := now()
	return r.operate(ctx, tenant, id, "acknowledge", store.AlarmAcknowledged, user, comment, at,
		bson.E{Key: "acknowledged", Value: false},
		bson.D{{Key: "acknowledged", Value: true}, {Key: "ackedAt", Value: at}, {Key: "ackedBy", Value: user},
			{Key: "ackComment", Value: comment}, {Key: "updatedAt", Value: at}})
}

// ClearAlarm implements store.AlarmRepo.
func (r *alarmRepo) ClearAlarm(ctx context.Context, tenant, id, user, comment string) (store.Alarm, bool, error) {
	at := now()
	return r.operate(ctx, tenant, id, "clear", store.AlarmCleared, user, comment, at,
		bson.E{Key: "status", Value: store.AlarmActive},
		bson.D{{Key: "status", Value: store.AlarmCleared}, {Key: "clearedAt", Value: at}, {Key: "clearedBy", Value: user},
			{Key: "clearComment", Value: comment}, {Key: "updatedAt", Value: at}})
}

// operate applies an operator's action (set) to the alarm when it is in
// the state applies names.
func (r *alarmRepo) operate(ctx context.Context, tenant, id, what, kind, user, comment string, at time.Time, applies bson.E, set bson.D) (store.Alarm, bool, error) {
	tenant = tenantOr(tenant)
	var d alarmDoc
	// Counted in opsSince too: a retry of the node's last change finds its
	// number below.
	err := r.change(ctx, append(alarmKey(tenant, id), applies), set,
		bson.D{{Key: "histSeq", Value: int64(1)}, {Key: "opsSince", Value: int64(1)}}, &d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		a, err := r.AlarmByID(ctx, tenant, id)
		if err != nil {
			return store.Alarm{}, false, fmt.Errorf("%s %w", what, err)
		}
		return a, false, nil
	}
	if err != nil {
		return store.Alarm{}, false, fmt.Errorf("%s alarm %s: %w", what, id, err)
	}
	if err := r.addHistory(ctx, d, d.HistSeq, store.AlarmHistoryEntry{At: at, Kind: kind, Reason: "manual", By: user, Comment: comment}); err != nil {
		return store.Alarm{}, false, fmt.Errorf("%s alarm %s: %w", what, id, err)
	}
	return d.alarm(), true, nil
}

// AlarmByID implements store.AlarmRepo.
func (r *alarmRepo) AlarmByID(ctx context.Context, tenant, id string) (store.Alarm, error) {
	var d alarmDoc
	err := r.alarms.FindOne(ctx, alarmKey(tenantOr(tenant), id)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.Alarm{}, fmt.Errorf("alarm %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Alarm{}, fmt.Errorf("alarm %s: %w", id, err)
	}
	return d.alarm(), nil
}

// AlarmHistory implements store.AlarmRepo.
func (r *alarmRepo) AlarmHistory(ctx context.Context, tenant, id string) ([]store.AlarmHistoryEntry, error) {
	tenant = tenantOr(tenant)
	if _, err := r.AlarmByID(ctx, tenant, id); err != nil {
		return nil, fmt.Errorf("alarm history: %w", err)
	}
	cur, err := r.history.Find(ctx, bson.D{{Key: "tenant", Value: tenant}, {Key: "alarmId", Value: id}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("alarm %s history: %w", id, err)
	}
	var docs []historyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("alarm %s history: %w", id, err)
	}
	out := make([]store.AlarmHistoryEntry, 0, len(docs))
	for _, h := range docs {
		out = append(out, store.AlarmHistoryEntry{
			Seq: h.Seq, At: fromDate(h.At), Kind: h.Kind, Reason: h.Reason, Severity: h.Severity, Status: h.Status,
			Acknowledged: h.Acknowledged, Value: h.Value, Count: h.Count, Ts: h.Ts, By: h.By, Comment: h.Comment,
		})
	}
	return out, nil
}

// ListAlarms implements store.AlarmRepo: newest (since) first, then by id.
func (r *alarmRepo) ListAlarms(ctx context.Context, f store.AlarmFilter) ([]store.Alarm, int, error) {
	filter := bson.D{{Key: "tenant", Value: tenantOr(f.Tenant)}}
	eq := func(field, v string) {
		if v != "" {
			filter = append(filter, bson.E{Key: field, Value: v})
		}
	}
	eq("status", f.Status)
	eq("deviceId", f.DeviceID)
	eq("rule", f.Rule)
	eq("flowId", f.FlowID)
	if len(f.Severities) > 0 {
		filter = append(filter, bson.E{Key: "severity", Value: bson.D{{Key: "$in", Value: f.Severities}}})
	}
	if f.Acknowledged != nil {
		filter = append(filter, bson.E{Key: "acknowledged", Value: *f.Acknowledged})
	}
	since := bson.D{}
	if !f.From.IsZero() {
		since = append(since, bson.E{Key: "$gte", Value: f.From.UnixMilli()})
	}
	if !f.To.IsZero() {
		since = append(since, bson.E{Key: "$lt", Value: f.To.UnixMilli()})
	}
	if len(since) > 0 {
		filter = append(filter, bson.E{Key: "since", Value: since})
	}
	total, err := r.alarms.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, fmt.Errorf("list alarms: count: %w", err)
	}
	out := []store.Alarm{}
	if f.Limit > 0 && f.Offset >= int(total) {
		return out, int(total), nil
	}
	cur, err := r.alarms.Find(ctx, filter, page(options.Find().SetSort(bson.D{{Key: "since", Value: -1}, {Key: "id", Value: 1}}), f.Offset, f.Limit))
	if err != nil {
		return nil, 0, fmt.Errorf("list alarms: %w", err)
	}
	var docs []alarmDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, 0, fmt.Errorf("list alarms: %w", err)
	}
	for _, d := range docs {
		out = append(out, d.alarm())
	}
	return out, int(total), nil
}
