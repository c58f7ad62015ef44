package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
)

// Notice is a message of the trace stream that is not a trace event; its
// "type" says which. Trace events have no "type" key.
//
//	{"type":"subscribed","flow":"boiler"}  first message: events flow from now on
//	{"type":"dropped","count":12}          the subscriber read too slowly and lost events (total so far)
type Notice struct {
	Type  string `json:"type"`
	Flow  string `json:"flow,omitempty"`
	Count uint64 `json:"count,omitempty"`
}

const (
	traceWriteTimeout = 10 * time.Second
	traceTick         = time.Second
	tracePingTicks    = 30
)

// trace upgrades to a WebSocket that streams the live trace events of a
// deployed flow, one JSON object per message. The flow need not be deployed
// yet: events start when it is.
func (s *Server) trace(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return newError(http.StatusUpgradeRequired, CodeUpgradeRequired, "trace: this route is a WebSocket; connect with ws:// and ?ticket=")
	}
	p := principalOf(c)
	id := c.Params("id")
	if _, err := s.flows.Get(c.UserContext(), p.Tenant, id); err != nil {
		return fmt.Errorf("trace flow %q: %w", id, err)
	}
	if err := s.checkOwner(p.Tenant, id); err != nil {
		return err
	}
	return s.traceWS(c)
}

// newTraceHandler is the WebSocket half of the trace route.
func (s *Server) newTraceHandler() fiber.Handler {
	return websocket.New(func(conn *websocket.Conn) {
		if !s.startStream() {
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"))
			return
		}
		defer s.streams.Done()
		s.streamTrace(conn, conn.Params("id"))
	})
}

// startStream registers a running stream unless the server is stopping;
// Shutdown waits for the registered ones.
func (s *Server) startStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.streams.Add(1)
	return true
}

func (s *Server) streamTrace(conn *websocket.Conn, flowID string) {
	sub := s.engine.Trace().Subscribe(flowID, s.cfg.TraceBuffer)
	defer sub.Close()
	st := openStream(conn, s.log.With("trace", flowID))
	defer st.close()
	if !st.write(Notice{Type: "subscribed", Flow: flowID}) {
		return
	}
	// Every tick reports lost events; every tracePingTicks ticks, a ping
	// keeps proxies from closing an idle stream.
	tick := time.NewTicker(traceTick)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok || !st.dropped(sub.Dropped()) || !st.write(ev) {
				return
			}
		case <-tick.C:
			if !st.dropped(sub.Dropped()) || !st.tick() {
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
