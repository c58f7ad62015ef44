package builtin

import (
	"net/url"
	"strings"

	"github.com/rulego/rulego/components/external"

	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(restAPICallSpec, &external.RestApiCallNode{})
}

var restAPICallSpec = &spec.Node{
	Type:     "restApiCall",
	Category: "external",
	Summary:  "Send the message to an HTTP endpoint and continue with its response.",
	Doc: "The payload is the request body (unless `withoutRequestBody`). On status 200 the response body becomes the payload and the message leaves on `Success`; " +
		"any other status, or a transport error, sends it on `Failure` with the response body in metadata `errorBody`. " +
		"Metadata `status` and `statusCode` hold the response status. The URL and headers may use `${metadata.key}` and `${msg.key}` placeholders. " +
		"A response with `Content-Type: text/event-stream` is read as server-sent events: each event leaves on `Success` with metadata `eventType`.",
	Fields: []*spec.Field{
		{Name: "restEndpointUrlPattern", Label: "URL", Type: spec.String, Required: true, Vars: true,
			Help: "Request URL; `${metadata.key}` and `${msg.key}` are replaced per message.", Example: "https://api.example.com/devices/${metadata.deviceId}/readings"},
		{Name: "requestMethod", Label: "Method", Type: spec.Enum, Enum: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}, Default: "POST",
			Help: "HTTP method."},
		{Name: "withoutRequestBody", Type: spec.Bool, Default: false, Help: "Send no body, e.g. for GET."},
		{Name: "headers", Type: spec.Map, Default: map[string]any{"Content-Type": "application/json"},
			Help: "Request headers; keys and values may use `${metadata.key}` and `${msg.key}`.", Example: map[string]any{"Authorization": "Bearer ${metadata.token}"}},
		{Name: "readTimeoutMs", Type: spec.Int, Default: 2000, Min: spec.Num(0), Vars: true, Help: "Timeout of the whole request in milliseconds; 0 waits forever."},
		{Name: "maxParallelRequestsCount", Type: spec.Int, Default: 200, Min: spec.Num(0), Vars: true, Advanced: true, Help: "Maximum connections to the host; 0 means no limit."},
		{Name: "insecureSkipVerify", Type: spec.Bool, Default: false, Advanced: true, Help: "Accept any TLS certificate. For tests only."},
		{Name: "enableProxy", Type: spec.Bool, Default: false, Advanced: true, Help: "Send requests through a proxy."},
		{Name: "useSystemProxyProperties", Type: spec.Bool, Default: false, Advanced: true, Help: "With enableProxy, use the proxy from the environment (HTTP_PROXY, HTTPS_PROXY) instead of the fields below."},
		{Name: "proxyScheme", Type: spec.Enum, Enum: []string{"http", "https", "socks5"}, Default: "http", Advanced: true, Help: "Proxy protocol."},
		{Name: "proxyHost", Type: spec.String, Default: "", Vars: true, Advanced: true, Help: "Proxy host name or address.", Example: "proxy.internal"},
		{Name: "proxyPort", Type: spec.Int, Default: 0, Min: spec.Num(0), Max: spec.Num(65535), Vars: true, Advanced: true, Help: "Proxy port.", Example: 3128},
		{Name: "proxyUser", Type: spec.String, Default: "", Vars: true, Advanced: true, Help: "Proxy user name, if it requires one."},
		{Name: "proxyPassword", Type: spec.Secret, Default: "", Advanced: true, Help: "Proxy password."},
	},
	Relations: spec.Relations{Fixed: []string{relSuccess, relFailure}},
	Examples: []spec.Example{
		{Title: "Post readings", Config: map[string]any{"restEndpointUrlPattern": "https://api.example.com/readings", "requestMethod": "POST"}},
		{Title: "Look up a device", Config: map[string]any{
			"restEndpointUrlPattern": "https://api.example.com/devices/${metadata.deviceId}",
			"requestMethod":          "GET",
			"withoutRequestBody":     true,
			"headers":                map[string]any{"Accept": "application/json"},
			"readTimeoutMs":          5000,
		}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		var ps spec.Problems
		if u, _ := cfg["restEndpointUrlPattern"].(string); u != "" && !strings.Contains(u, "${") {
			if p, err := url.Parse(u); err != nil {
				ps = append(ps, spec.Problem{Field: "restEndpointUrlPattern", Message: "not a valid URL: " + err.Error()})
			} else if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				ps = append(ps, spec.Problem{Field: "restEndpointUrlPattern", Message: "want an http:// or https:// URL with a host"})
			}
		}
		proxy, _ := cfg["enableProxy"].(bool)
		system, _ := cfg["useSystemProxyProperties"].(bool)
		if host, _ := cfg["proxyHost"].(string); proxy && !system && host == "" {
			ps = append(ps, spec.Problem{Field: "proxyHost", Message: "required when enableProxy is set without useSystemProxyProperties"})
		}
		return ps
	},
}
