package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
)

// HealthAnswer is the answer of /healthz and /readyz.
type HealthAnswer struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Components is the state of the process's other parts, such as the
	// embedded MQTT broker (healthz only).
	Components map[string]any `json:"components,omitempty"`
}

// healthz answers 200 while the process answers, with the state of its
// components: a component that failed (a broker whose port was taken) is
// reported there, not as a dead process.
func (s *Server) healthz(c *fiber.Ctx) error {
	a := HealthAnswer{Status: "ok"}
	if s.components != nil {
		a.Components = s.components()
	}
	return c.JSON(a)
}

// readyz answers 200 once the deployed flows are restored and while the
// store answers; 503 otherwise.
func (s *Server) readyz(c *fiber.Ctx) error {
	if !s.ready.Load() {
		return c.Status(http.StatusServiceUnavailable).JSON(HealthAnswer{Status: "starting", Reason: "restoring deployed flows"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if _, err := s.db.Users().CountUsers(ctx); err != nil {
		s.log.Warn("readyz: store unreachable", "err", err)
		return c.Status(http.StatusServiceUnavailable).JSON(HealthAnswer{Status: "unavailable", Reason: "store unreachable"})
	}
	return c.JSON(HealthAnswer{Status: "ready"})
}
