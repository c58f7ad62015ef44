package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// Page limits of GET /api/v1/deadletters and of a replayed set.
const (
	defaultDeadLetterLimit = 50
	maxDeadLetterLimit     = 1000
)

// MetaReplayOf is the metadata key a replayed message carries: the id of
// the dead letter it replays.
const MetaReplayOf = "replayOf"

// DeadLetterAnswer is one dead letter in the API.
type DeadLetterAnswer struct {
	ID        string            `json:"id"`
	Flow      string            `json:"flow"`
	Version   int               `json:"version"`
	Node      string            `json:"node"`
	MsgID     string            `json:"msgId"`
	Type      string            `json:"type"`
	DataType  string            `json:"dataType"`
	Data      string            `json:"data"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Error     string            `json:"error"`
	Trace     any               `json:"trace,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
}

// DeadLetterPage is the answer of GET /api/v1/deadletters.
type DeadLetterPage struct {
	Items []DeadLetterAnswer `json:"items"`
	Total int                `json:"total"`
}

func deadLetterAnswer(d store.DeadLetter) DeadLetterAnswer {
	a := DeadLetterAnswer{ID: d.ID, Flow: d.FlowID, Version: d.Version, Node: d.NodeID, MsgID: d.MsgID, Type: d.MsgType,
		DataType: d.DataType, Data: d.Data, Metadata: d.Metadata, Error: d.Error, CreatedAt: d.CreatedAt}
	if len(d.Trace) > 0 {
		a.Trace = d.Trace
	}
	return a
}

func (s *Server) listDeadLetters(c *fiber.Ctx) error {
	limit, err := intQuery(c, "limit", defaultDeadLetterLimit)
	if err != nil {
		return err
	}
	offset, err := intQuery(c, "offset", 0)
	if err != nil {
		return err
	}
	if limit < 1 || limit > maxDeadLetterLimit {
		return badRequest("query limit: want 1 to %d, got %d", maxDeadLetterLimit, limit)
	}
	if offset < 0 {
		return badRequest("query offset: want 0 or more, got %d", offset)
	}
	p := principalOf(c)
	ds, total, err := s.db.DeadLetters().ListDeadLetters(c.UserContext(), store.DeadLetterFilter{Tenant: p.Tenant, FlowID: c.Query("flow"), Limit: limit, Offset: offset})
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	out := DeadLetterPage{Items: make([]DeadLetterAnswer, 0, len(ds)), Total: total}
	for _, d := range ds {
		out.Items = append(out.Items, deadLetterAnswer(d))
	}
	return c.JSON(out)
}

// ReplayAnswer lists what a replay did.
type ReplayAnswer struct {
	Replayed []ReplayedLetter `json:"replayed"`
	Failed   []ReplayFailure  `json:"failed"`
}

// ReplayedLetter is a dead letter sent again: MsgID is the new message.
type ReplayedLetter struct {
	ID    string `json:"id"`
	MsgID string `json:"msgId,omitempty"`
}

// ReplayFailure is a dead letter that could not be sent again; it stays.
type ReplayFailure struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// replay sends one dead letter through the current version of its flow
// and deletes it once the engine accepted it.
func (s *Server) replay(c *fiber.Ctx, d store.DeadLetter, failFast bool) (string, error) {
	ctx, cancel := s.requestContext()
	defer cancel()
	if !s.deployedIn(d.Tenant, d.FlowID) {
		return "", fmt.Errorf("replay dead letter %q: flow %q: %w", d.ID, d.FlowID, engine.ErrNotDeployed)
	}
	md := make(map[string]string, len(d.Metadata)+1)
	for k, v := range d.Metadata {
		md[k] = v
	}
	md[MetaReplayOf] = d.ID
	msgID, err := newMessageID()
	if err != nil {
		return "", err
	}
	if _, err := s.engine.Submit(ctx, d.FlowID, engine.Message{ID: msgID, Type: d.MsgType, DataType: d.DataType, Data: d.Data, Metadata: md}, engine.SubmitOptions{FailFast: failFast}); err != nil {
		return "", fmt.Errorf("replay dead letter %q: %w", d.ID, err)
	}
	if err := s.db.DeadLetters().DeleteDeadLetter(c.UserContext(), d.Tenant, d.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("replay dead letter %q: delete after replay: %w", d.ID, err)
	}
	return msgID, nil
}

func (s *Server) replayDeadLetter(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	d, err := s.db.DeadLetters().DeadLetter(c.UserContext(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("dead letter %q: %w", id, err)
	}
	msgID, err := s.replay(c, d, true)
	if err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(ReplayAnswer{Replayed: []ReplayedLetter{{ID: d.ID, MsgID: msgID}}, Failed: []ReplayFailure{}})
}

// ReplayRequest is the body of POST /api/v1/deadletters/replay: the dead
// letters to replay (of one flow, or all; at most Limit, oldest pages last).
type ReplayRequest struct {
	Flow  string `json:"flow,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

func (s *Server) replayDeadLetters(c *fiber.Ctx) error {
	var req ReplayRequest
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	if req.Limit == 0 {
		req.Limit = maxDeadLetterLimit
	}
	if req.Limit < 1 || req.Limit > maxDeadLetterLimit {
		return badRequest("replay: limit: want 1 to %d, got %d", maxDeadLetterLimit, req.Limit)
	}
	p := principalOf(c)
	ds, _, err := s.db.DeadLetters().ListDeadLetters(c.UserContext(), store.DeadLetterFilter{Tenant: p.Tenant, FlowID: req.Flow, Limit: req.Limit})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	out := ReplayAnswer{Replayed: []ReplayedLetter{}, Failed: []ReplayFailure{}}
	// Oldest first, so that replayed messages keep their original order.
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		msgID, err := s.replay(c, d, false)
		if err != nil {
			out.Failed = append(out.Failed, ReplayFailure{ID: d.ID, Error: err.Error()})
			continue
		}
		out.Replayed = append(out.Replayed, ReplayedLetter{ID: d.ID, MsgID: msgID})
	}
	return c.JSON(out)
}

func (s *Server) deleteDeadLetter(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	if err := s.db.DeadLetters().DeleteDeadLetter(c.UserContext(), p.Tenant, id); err != nil {
		return fmt.Errorf("delete dead letter %q: %w", id, err)
	}
	return c.SendStatus(http.StatusNoContent)
}

// DeadLetterSink keeps the engine's dead letters in the store, where
// GET /api/v1/deadletters finds them.
type DeadLetterSink struct {
	repo store.DeadLetterRepo
	log  *slog.Logger
}

var _ engine.DeadLetterSink = (*DeadLetterSink)(nil)

// NewDeadLetterSink returns a sink writing to repo; failures are logged.
func NewDeadLetterSink(repo store.DeadLetterRepo, log *slog.Logger) *DeadLetterSink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DeadLetterSink{repo: repo, log: log}
}

// DeadLetter implements engine.DeadLetterSink. The stored trace is the path
// of nodes the message took.
func (s *DeadLetterSink) DeadLetter(ctx context.Context, d engine.DeadLetter) {
	trace, err := json.Marshal(map[string]any{"path": d.Path})
	if err != nil {
		trace = nil
	}
	if _, err := s.repo.AddDeadLetter(ctx, store.DeadLetter{
		Tenant: d.Tenant, FlowID: d.FlowID, Version: d.Version, NodeID: d.NodeID,
		MsgID: d.Msg.ID, MsgType: d.Msg.Type, DataType: d.Msg.DataType, Data: d.Msg.Data, Metadata: d.Msg.Metadata,
		Error: d.Error, Trace: trace,
	}); err != nil {
		s.log.Error("store dead letter", "flow", d.FlowID, "msgId", d.Msg.ID, "err", err)
	}
}
