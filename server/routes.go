package server

import (
	"io/fs"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// APIPrefix is the path prefix of the REST API.
const APIPrefix = "/api/v1"

// route is one entry of the route table: the router and the OpenAPI
// document are both generated from it.
type route struct {
	Method  string
	Path    string // Fiber syntax: /api/v1/flows/:id
	Summary string
	Tag     string
	// Auth requires a session or API token (WebSocket routes: a ticket).
	Auth bool
	// WebSocket marks an upgrade route.
	WebSocket bool
	// Query parameters, for the OpenAPI document.
	Query []param
	// Header parameters, for the OpenAPI document.
	Headers []param
	// Body describes the request body ("" for none).
	Body string
	// Status is the status of a successful answer (default 200).
	Status int
	// Produces is the content type of a successful answer (default JSON).
	Produces string
	Handler  fiber.Handler
}

// param is a query or header parameter.
type param struct {
	Name, Type, Desc string
}

// routeTable lists every route Sluice serves.
func (s *Server) routeTable() []route {
	rs := s.coreRoutes()
	rs = append(rs, s.alarmRoutes()...)
	rs = append(rs, s.statsRoutes()...)
	rs = append(rs, s.backtestRoutes()...)
	return append(rs, s.telemetryRoutes()...)
}

// coreRoutes are the routes of the foundation: health, auth, nodes, flows,
// deploy, devices, ingest, dead letters.
func (s *Server) coreRoutes() []route {
	qp := func(name, typ, desc string) param { return param{Name: name, Type: typ, Desc: desc} }
	return []route{
		// Health and metrics.
		{Method: http.MethodGet, Path: "/healthz", Summary: "Liveness: the process answers.", Tag: "ops", Handler: s.healthz},
		{Method: http.MethodGet, Path: "/readyz", Summary: "Readiness: the store is reachable and the deployed flows are restored.", Tag: "ops", Handler: s.readyz},
		{Method: http.MethodGet, Path: "/metrics", Summary: "Prometheus metrics.", Tag: "ops", Produces: "text/plain", Handler: adaptor.HTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))},
		{Method: http.MethodGet, Path: APIPrefix + "/openapi.json", Summary: "This API's OpenAPI 3 document.", Tag: "ops", Auth: true, Handler: s.openapi},

		// Auth.
		{Method: http.MethodPost, Path: APIPrefix + "/auth/login", Summary: "Log in with a username and password; returns a session token.", Tag: "auth", Body: "LoginRequest", Handler: s.login},
		{Method: http.MethodPost, Path: APIPrefix + "/auth/logout", Summary: "End the current session.", Tag: "auth", Auth: true, Status: http.StatusNoContent, Handler: s.logout},
		{Method: http.MethodPost, Path: APIPrefix + "/auth/ticket", Summary: "A short-lived, single-use ticket for a WebSocket (?ticket=).", Tag: "auth", Auth: true, Handler: s.ticket},
		{Method: http.MethodGet, Path: APIPrefix + "/tokens", Summary: "List your API tokens (without their secrets).", Tag: "auth", Auth: true, Handler: s.listTokens},
		{Method: http.MethodPost, Path: APIPrefix + "/tokens", Summary: "Create an API token; its secret is shown only in this answer.", Tag: "auth", Auth: true, Body: "TokenRequest", Status: http.StatusCreated, Handler: s.createToken},
		{Method: http.MethodDelete, Path: APIPrefix + "/tokens/:id", Summary: "Revoke an API token.", Tag: "auth", Auth: true, Status: http.StatusNoContent, Handler: s.deleteToken},

		// Node catalog.
		{Method: http.MethodGet, Path: APIPrefix + "/nodes", Summary: "The node catalog: the spec of every node type.", Tag: "nodes", Auth: true, Handler: s.nodes},

		// Flows.
		{Method: http.MethodGet, Path: APIPrefix + "/flows", Summary: "List flows with their latest and deployed versions.", Tag: "flows", Auth: true, Handler: s.listFlows},
		{Method: http.MethodPost, Path: APIPrefix + "/flows", Summary: "Create a flow; the body is the flow document, its id is ruleChain.id.", Tag: "flows", Auth: true, Body: "Flow",
			Query: []param{qp("comment", "string", "Comment stored with the version.")}, Status: http.StatusCreated, Handler: s.createFlow},
		{Method: http.MethodPost, Path: APIPrefix + "/flows/validate", Summary: "Validate a flow document without saving it.", Tag: "flows", Auth: true, Body: "Flow", Handler: s.validateFlow},
		{Method: http.MethodPost, Path: APIPrefix + "/flows/import", Summary: "Import a flow file: creates the flow or adds a version to it.", Tag: "flows", Auth: true, Body: "Flow", Handler: s.importFlow},
		{Method: http.MethodGet, Path: APIPrefix + "/flows/:id", Summary: "The latest version of a flow (secrets masked).", Tag: "flows", Auth: true, Handler: s.getFlow},
		{Method: http.MethodPut, Path: APIPrefix + "/flows/:id", Summary: "Save a new version of a flow; the base version comes in If-Match or ?baseVersion= (absent: no check).", Tag: "flows", Auth: true, Body: "Flow",
			Query:   []param{qp("comment", "string", "Comment stored with the version."), qp("baseVersion", "integer", "The version this edit is based on; stale answers 409.")},
			Headers: []param{qp("If-Match", "string", "The version this edit is based on (as ?baseVersion=).")}, Handler: s.updateFlow},
		{Method: http.MethodDelete, Path: APIPrefix + "/flows/:id", Summary: "Delete a flow and all its versions; a deployed flow is undeployed first.", Tag: "flows", Auth: true, Status: http.StatusNoContent, Handler: s.deleteFlow},
		{Method: http.MethodGet, Path: APIPrefix + "/flows/:id/versions", Summary: "The versions of a flow, newest first.", Tag: "flows", Auth: true, Handler: s.flowVersions},
		{Method: http.MethodGet, Path: APIPrefix + "/flows/:id/versions/:version", Summary: "One version of a flow.", Tag: "flows", Auth: true, Handler: s.flowVersion},
		{Method: http.MethodGet, Path: APIPrefix + "/flows/:id/diff", Summary: "What changed between two versions: nodes and connections added, removed, changed.", Tag: "flows", Auth: true,
			Query: []param{qp("from", "integer", "Older version."), qp("to", "integer", "Newer version (default latest).")}, Handler: s.diffFlow},
		{Method: http.MethodPost, Path: APIPrefix + "/flows/:id/rollback", Summary: "Save a new version equal to an older one (deploy separately).", Tag: "flows", Auth: true, Body: "RollbackRequest", Handler: s.rollbackFlow},
		{Method: http.MethodGet, Path: APIPrefix + "/flows/:id/export", Summary: "Download the latest version as a JSON file (secrets masked).", Tag: "flows", Auth: true, Handler: s.exportFlow},

		// Deploy and run.
		{Method: http.MethodPost, Path: APIPrefix + "/flows/:id/deploy", Summary: "Deploy the latest or a given version; a flow with errors is refused (422) and the running version keeps running.", Tag: "deploy", Auth: true,
			Query: []param{qp("version", "integer", "Version to deploy (default latest).")}, Handler: s.deployFlow},
		{Method: http.MethodPost, Path: APIPrefix + "/flows/:id/undeploy", Summary: "Stop a deployed flow after draining it.", Tag: "deploy", Auth: true, Handler: s.undeployFlow},
		{Method: http.MethodGet, Path: APIPrefix + "/flows/:id/status", Summary: "Deployment state of a flow: deployed version, in-flight messages, counters.", Tag: "deploy", Auth: true, Handler: s.flowStatus},
		{Method: http.MethodPost, Path: APIPrefix + "/flows/:id/test", Summary: "Run one sample message through the saved flow or a draft on an isolated engine and return the whole trace.", Tag: "deploy", Auth: true, Body: "TestRequest", Handler: s.testFlow},
		{Method: http.MethodPost, Path: APIPrefix + "/flows/:id/messages", Summary: "Inject a message into the deployed flow (503 when overloaded, 409 when not deployed).", Tag: "deploy", Auth: true, Body: "Message",
			Query: []param{qp("wait", "boolean", "Wait until the message completed and return its result.")}, Status: http.StatusAccepted, Handler: s.injectMessage},
		{Method: http.MethodGet, Path: APIPrefix + "/flows/:id/trace", Summary: "WebSocket streaming the live trace events of a deployed flow; authenticate with ?ticket=.", Tag: "deploy", Auth: true, WebSocket: true,
			Query: []param{qp("ticket", "string", "A ticket from POST /api/v1/auth/ticket.")}, Status: http.StatusSwitchingProtocols, Handler: s.trace},

		// Device traffic for connectors (devices authenticate with their own tokens).
		{Method: http.MethodPost, Path: IngestPrefix + "/*", Summary: "Device data for the deployed httpIn node serving the path; device token in Authorization: Bearer, X-Device-Token or ?token=. 202 with {msgId}, or the flow's result in sync mode.", Tag: "ingest", Status: http.StatusAccepted, Handler: IngestHandler(IngestPrefix, s.ingestHTTP)},
		{Method: http.MethodPut, Path: IngestPrefix + "/*", Summary: "As POST /ingest/{path}.", Tag: "ingest", Status: http.StatusAccepted, Handler: IngestHandler(IngestPrefix, s.ingestHTTP)},
		{Method: http.MethodGet, Path: WSPrefix + "/*", Summary: "WebSocket of the deployed wsIn node serving the path; each frame is a message, wsPush nodes send back; device token in ?token=.", Tag: "ingest", WebSocket: true,
			Query: []param{qp("token", "string", "The device's token.")}, Status: http.StatusSwitchingProtocols, Handler: IngestHandler(WSPrefix, s.ingestWS)},

		// Dead letters.
		{Method: http.MethodGet, Path: APIPrefix + "/deadletters", Summary: "Messages that failed or timed out, newest first.", Tag: "deadletters", Auth: true,
			Query: []param{qp("flow", "string", "Only this flow."), qp("limit", "integer", "Page size (default 50, at most 1000)."), qp("offset", "integer", "Skip this many.")}, Handler: s.listDeadLetters},
		{Method: http.MethodPost, Path: APIPrefix + "/deadletters/replay", Summary: "Replay a filtered set of dead letters through the current version of their flows.", Tag: "deadletters", Auth: true, Body: "ReplayRequest", Handler: s.replayDeadLetters},
		{Method: http.MethodPost, Path: APIPrefix + "/deadletters/:id/replay", Summary: "Replay one dead letter through the current version of its flow; it is removed once accepted.", Tag: "deadletters", Auth: true, Handler: s.replayDeadLetter},
		{Method: http.MethodDelete, Path: APIPrefix + "/deadletters/:id", Summary: "Delete a dead letter.", Tag: "deadletters", Auth: true, Status: http.StatusNoContent, Handler: s.deleteDeadLetter},

		// Device registry.
		{Method: http.MethodGet, Path: APIPrefix + "/devices", Summary: "List devices by id, optionally of a group or with a tag.", Tag: "devices", Auth: true,
			Query: []param{qp("group", "string", "Only this group."), qp("tag", "string", "Only devices with this tag."), qp("limit", "integer", "Page size (default 50, at most 1000)."), qp("offset", "integer", "Skip this many.")}, Handler: s.listDevices},
		{Method: http.MethodPost, Path: APIPrefix + "/devices", Summary: "Register a device ({id, name, group, tags, credentials: token|password|none, username}); its generated token or password is shown only in this answer.", Tag: "devices", Auth: true, Status: http.StatusCreated, Handler: s.createDevice},
		{Method: http.MethodGet, Path: APIPrefix + "/devices/:id", Summary: "One device (never its secret).", Tag: "devices", Auth: true, Handler: s.getDevice},
		{Method: http.MethodPut, Path: APIPrefix + "/devices/:id", Summary: "Replace a device's name, group and tags.", Tag: "devices", Auth: true, Handler: s.updateDevice},
		{Method: http.MethodDelete, Path: APIPrefix + "/devices/:id", Summary: "Delete a device; its credentials stop working at once.", Tag: "devices", Auth: true, Status: http.StatusNoContent, Handler: s.deleteDevice},
		{Method: http.MethodPost, Path: APIPrefix + "/devices/:id/credentials", Summary: "Replace a device's credentials with a new secret, shown only in this answer; the old one stops working at once.", Tag: "devices", Auth: true, Handler: s.rotateDeviceCredentials},
	}
}

// recoverPanics turns a handler's panic into a 500 answer and logs it with
// its stack.
func (s *Server) recoverPanics() fiber.Handler {
	return recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: func(c *fiber.Ctx, e any) {
		s.log.Error("panic in a request handler", "method", c.Method(), "path", c.Path(), "panic", e, "stack", string(debug.Stack()))
	}})
}

// register adds the route table to the app, then the designer's static
// files and a JSON 404 for everything else.
func (s *Server) register(designer fs.FS) {
	// A handler that panics answers 500 and is logged with its stack; the
	// process keeps serving.
	s.app.Use(s.recoverPanics())
	for _, r := range s.routes {
		handlers := []fiber.Handler{}
		if r.Auth {
			handlers = append(handlers, s.authenticate(r.WebSocket))
		}
		handlers = append(handlers, r.Handler)
		s.app.Add(r.Method, r.Path, handlers...)
	}
	if designer != nil {
		s.app.Use("/", filesystem.New(filesystem.Config{
			Root:         http.FS(designer),
			Index:        "index.html",
			NotFoundFile: "index.html",
			Next: func(c *fiber.Ctx) bool {
				p := c.Path()
				return strings.HasPrefix(p, APIPrefix+"/") || p == APIPrefix || c.Method() != http.MethodGet && c.Method() != http.MethodHead
			},
		}))
	}
	s.app.Use(func(c *fiber.Ctx) error {
		return notFound("no route for %s %s", c.Method(), c.Path())
	})
}
