package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// decodeJSON decodes the request body strictly: bad JSON or an unknown key
// answers 400.
func decodeJSON(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("request body: want a JSON object, got nothing")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %s", err.Error())
	}
	if dec.More() {
		return badRequest("request body: unexpected data after the JSON value")
	}
	return nil
}

// jsonBody returns a copy of the request body after checking it is JSON.
func jsonBody(c *fiber.Ctx) ([]byte, error) {
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 {
		return nil, badRequest("request body: want a flow document, got nothing")
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		return nil, badRequest("request body: invalid JSON: %v", err)
	}
	return bytes.Clone(body), nil
}

// intQuery parses an optional integer query parameter.
func intQuery(c *fiber.Ctx, name string, def int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("query %s: want an integer, got %q", name, v)
	}
	return n, nil
}

// boolQuery parses an optional boolean query parameter.
func boolQuery(c *fiber.Ctx, name string) (bool, error) {
	v := c.Query(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query %s: want true or false, got %q", name, v)
	}
	return b, nil
}

// intParam parses an integer path parameter.
func intParam(c *fiber.Ctx, name string) (int, error) {
	v := c.Params(name)
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("path %s: want an integer, got %q", name, v)
	}
	return n, nil
}

// baseVersion is the version a save is based on: If-Match (a version,
// optionally quoted as an ETag) or ?baseVersion=; absent means -1, no check.
func baseVersion(c *fiber.Ctx) (int, error) {
	if h := strings.TrimSpace(c.Get(fiber.HeaderIfMatch)); h != "" {
		v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, badRequest("header If-Match: want a version number, got %q", h)
		}
		return n, nil
	}
	return intQuery(c, "baseVersion", -1)
}

// etag is the ETag of a flow version.
func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }
