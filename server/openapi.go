package server

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// fiberParam matches a Fiber path parameter (":id").
var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// openAPIPath turns a Fiber path into an OpenAPI one: /flows/:id -> /flows/{id}.
func openAPIPath(p string) string { return fiberParam.ReplaceAllString(p, "{$1}") }

// OpenAPI returns the OpenAPI 3 document of the server, generated from the
// same route table that the router is built from.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, r := range s.routes {
		p := openAPIPath(r.Path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		item[strings.ToLower(r.Method)] = operation(r)
	}
	errRef := map[string]any{"$ref": "#/components/schemas/Error"}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Sluice API",
			"version":     "v1",
			"description": "Sluice's REST API: flows, deploys, traces, dead letters. Errors are {\"error\":{\"code\",\"message\",\"details\"}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "A session token from POST /api/v1/auth/login or an API token."},
				"ticket": map[string]any{"type": "apiKey", "in": "query", "name": "ticket", "description": "A single-use ticket from POST /api/v1/auth/ticket (WebSocket routes)."},
			},
			"schemas": map[string]any{
				"Error": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"error": map[string]any{
							"type":     "object",
							"required": []string{"code", "message"},
							"properties": map[string]any{
								"code":    map[string]any{"type": "string"},
								"message": map[string]any{"type": "string"},
								"details": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Problem"}},
							},
						},
					},
				},
				"Problem": map[string]any{
					"type":     "object",
					"required": []string{"severity", "message"},
					"properties": map[string]any{
						"severity": map[string]any{"type": "string", "enum": []string{"error", "warning"}},
						"flow":     map[string]any{"type": "string"},
						"node":     map[string]any{"type": "string"},
						"nodeType": map[string]any{"type": "string"},
						"field":    map[string]any{"type": "string"},
						"message":  map[string]any{"type": "string"},
					},
				},
				"Flow":            map[string]any{"type": "object", "description": "A RuleGo rule-chain document: ruleChain, metadata.nodes, metadata.connections."},
				"Message":         map[string]any{"type": "object", "required": []string{"type", "data"}, "properties": map[string]any{"id": str(), "type": str(), "dataType": map[string]any{"type": "string", "enum": []string{"JSON", "TEXT", "BINARY"}}, "data": map[string]any{"description": "A string, or any JSON value (taken as its JSON text)."}, "metadata": map[string]any{"type": "object", "additionalProperties": str()}}},
				"LoginRequest":    map[string]any{"type": "object", "required": []string{"username", "password"}, "properties": map[string]any{"username": str(), "password": str(), "tenant": str()}},
				"TokenRequest":    map[string]any{"type": "object", "required": []string{"name"}, "properties": map[string]any{"name": str(), "expiresIn": str(), "expiresAt": map[string]any{"type": "string", "format": "date-time"}}},
				"RollbackRequest": map[string]any{"type": "object", "required": []string{"version"}, "properties": map[string]any{"version": map[string]any{"type": "integer"}, "comment": str()}},
				"TestRequest":     map[string]any{"type": "object", "required": []string{"message"}, "properties": map[string]any{"message": map[string]any{"$ref": "#/components/schemas/Message"}, "startNode": str(), "draft": map[string]any{"$ref": "#/components/schemas/Flow"}, "sideEffects": map[string]any{"type": "boolean"}}},
				"BacktestRequest": map[string]any{"type": "object", "required": []string{"from"}, "properties": map[string]any{
					"from": map[string]any{"description": "Start, inclusive: RFC 3339 or Unix milliseconds."}, "to": map[string]any{"description": "End, exclusive (default now)."},
					"devices": map[string]any{"type": "array", "items": str()}, "version": map[string]any{"type": "integer"},
					"config": map[string]any{"type": "object", "description": "Replaces the node's saved configuration for this run."}}},
				"ReplayRequest": map[string]any{"type": "object", "properties": map[string]any{"flow": str(), "limit": map[string]any{"type": "integer"}}},
			},
			"responses": map[string]any{
				"Error": map[string]any{"description": "An error.", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}},
			},
		},
	}
}

func str() map[string]any { return map[string]any{"type": "string"} }

func operation(r route) map[string]any {
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	produces := r.Produces
	if produces == "" {
		produces = "application/json"
	}
	ok := map[string]any{"description": http.StatusText(status)}
	if status != http.StatusNoContent && status != http.StatusSwitchingProtocols {
		ok["content"] = map[string]any{produces: map[string]any{}}
	}
	errResp := map[string]any{"$ref": "#/components/responses/Error"}
	responses := map[string]any{strconv.Itoa(status): ok, "default": errResp}
	if r.Auth {
		responses["401"] = errResp
	}
	op := map[string]any{
		"summary":     r.Summary,
		"operationId": operationID(r),
		"tags":        []string{r.Tag},
		"responses":   responses,
	}
	var params []any
	for _, m := range fiberParam.FindAllStringSubmatch(r.Path, -1) {
		typ := "string"
		if m[1] == "version" {
			typ = "integer"
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": typ}})
	}
	for _, q := range r.Query {
		params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Desc, "schema": map[string]any{"type": q.Type}})
	}
	for _, h := range r.Headers {
		params = append(params, map[string]any{"name": h.Name, "in": "header", "description": h.Desc, "schema": map[string]any{"type": h.Type}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if r.Body != "" {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + r.Body}}}}
	}
	switch {
	case !r.Auth:
		op["security"] = []any{}
	case r.WebSocket:
		op["security"] = []any{map[string]any{"ticket": []string{}}, map[string]any{"bearer": []string{}}}
		op["x-websocket"] = true
	default:
		op["security"] = []any{map[string]any{"bearer": []string{}}}
	}
	return op
}

// operationID is a stable name: method and path, e.g. post_flows_id_deploy.
func operationID(r route) string {
	p := strings.TrimPrefix(r.Path, APIPrefix)
	p = strings.NewReplacer(":", "", "/", "_", ".", "_").Replace(p)
	return strings.ToLower(r.Method) + strings.TrimSuffix(p, "_")
}

func (s *Server) openapi(c *fiber.Ctx) error {
	return c.JSON(s.OpenAPI())
}
