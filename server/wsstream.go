package server

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/gofiber/contrib/websocket"
)

// wsStream is the server side of a push-only WebSocket (the trace and the
// alarm stream): it notices the client going away, writes JSON messages
// with a deadline, reports lost messages and pings an idle connection.
type wsStream struct {
	conn *websocket.Conn
	log  *slog.Logger
	// gone closes when the client has gone (its reader stopped).
	gone     chan struct{}
	reported uint64 // lost messages already reported
	ticks    int
}

// openStream starts reading (and discarding) what the client sends, so
// that its going away is noticed and pings are answered. Call close before
// the handler returns.
func openStream(conn *websocket.Conn, log *slog.Logger) *wsStream {
	st := &wsStream{conn: conn, log: log, gone: make(chan struct{})}
	go func() {
		defer close(st.gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return st
}

// close stops the reader and waits for it. Closing a hijacked connection is
// left to fasthttp once the handler returns, so a read deadline unblocks
// the reader instead.
func (st *wsStream) close() {
	_ = st.conn.SetReadDeadline(time.Now())
	<-st.gone
}

// write sends v as a JSON text message; false when the client is gone.
func (st *wsStream) write(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		st.log.Error("stream: encode a message", "err", err)
		return true
	}
	_ = st.conn.SetWriteDeadline(time.Now().Add(traceWriteTimeout))
	return st.conn.WriteMessage(websocket.TextMessage, b) == nil
}

// dropped reports {"type":"dropped","count":n} when the total of lost
// messages grew since the last report; false when the client is gone.
func (st *wsStream) dropped(total uint64) bool {
	if total <= st.reported {
		return true
	}
	st.reported = total
	return st.write(Notice{Type: "dropped", Count: total})
}

// tick is called every traceTick: every tracePingTicks ticks it pings, so
// that proxies do not close an idle stream; false when the client is gone.
func (st *wsStream) tick() bool {
	if st.ticks++; st.ticks%tracePingTicks != 0 {
		return true
	}
	_ = st.conn.SetWriteDeadline(time.Now().Add(traceWriteTimeout))
	return st.conn.WriteMessage(websocket.PingMessage, nil) == nil
}

// goingAway tells the client the server is shutting down.
func (st *wsStream) goingAway() {
	_ = st.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = st.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"))
}
