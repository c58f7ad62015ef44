package server

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Prefixes of device ingest, outside the API: HTTP-in connectors serve
// /ingest/{path}, WebSocket-in connectors /ws/{path}.
const (
	IngestPrefix = "/ingest"
	WSPrefix     = "/ws"
)

// IngestRouter finds the handler of a device path below a prefix (without
// the prefix and the slashes around it). Connectors add and remove their
// paths at run time, which Fiber's own router cannot do; a nil handler means
// no deployed flow serves the path. connectors/http.Router and
// connectors/ws.Router implement it.
type IngestRouter interface {
	Lookup(path string) fiber.Handler
}

// MountIngest adds the catch-all routes /ingest/* (HTTP in) and /ws/*
// (WebSocket in) to app for every method, dispatching to the routers; a nil
// router, or a path no flow serves, answers 404 with the API's JSON error
// body. Mount before any catch-all handler (the designer's files, the JSON
// 404), since Fiber runs handlers in the order they were added. The routes
// need no API authentication: connectors authenticate devices themselves.
//
// The server's route table can instead list IngestHandler under
// "POST|PUT /ingest/*" and "GET /ws/*", so that the OpenAPI document
// describes them.
func MountIngest(app fiber.Router, httpIn, ws IngestRouter) {
	app.All(IngestPrefix+"/*", IngestHandler(IngestPrefix, httpIn))
	app.All(WSPrefix+"/*", IngestHandler(WSPrefix, ws))
}

// IngestHandler is the handler of a route prefix+"/*": it dispatches to the
// handler r finds for the rest of the path, or answers the JSON 404.
func IngestHandler(prefix string, r IngestRouter) fiber.Handler {
	return func(c *fiber.Ctx) error {
		path := strings.Trim(c.Params("*"), "/")
		var h fiber.Handler
		if r != nil && path != "" {
			h = r.Lookup(path)
		}
		if h == nil {
			return c.Status(http.StatusNotFound).JSON(ErrorBody{Error: ErrorInfo{
				Code:    CodeNotFound,
				Message: "no deployed flow serves " + prefix + "/" + path,
			}})
		}
		return h(c)
	}
}
