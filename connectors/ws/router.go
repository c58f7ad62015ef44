// Package ws is the WebSocket connector: devices connect to /ws/{path} on the
// API server's port, each text or binary frame becomes a message of the flow
// whose wsIn node serves the path, and the wsPush node sends messages back to
// a connected device by its id.
//
// The server mounts one catch-all route (server.MountIngest) that dispatches
// to a Router; wsIn sources add their path when they start and remove it
// when they stop. The Router also keeps the table of connected devices that
// wsPush nodes write to.
package ws

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gofiber/fiber/v2"

	httpin "github.com/sluicehq/sluice/connectors/http"
)

// RouterKey is the key under which the process provides the WebSocket
// Router in the engine's Resources (engine.Resources.Provide).
const RouterKey = "ws.router"

// Prefix is the URL prefix under which the server mounts the Router.
const Prefix = "/ws"

// ErrNotConnected is the error of a push to a device without a connection.
var ErrNotConnected = errors.New("is not connected over WebSocket")

// Router maps WebSocket paths to the wsIn sources that serve them and keeps
// the connections of identified devices, by tenant and device id. It is safe
// for concurrent use; a nil *Router serves nothing.
type Router struct {
	paths *httpin.Router

	mu      sync.RWMutex
	devices map[deviceKey]map[*conn]struct{}
}

type deviceKey struct{ tenant, id string }

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{paths: httpin.NewRouter(), devices: map[deviceKey]map[*conn]struct{}{}}
}

// Lookup returns the handler serving path, or nil.
func (r *Router) Lookup(path string) fiber.Handler {
	if r == nil {
		return nil
	}
	return r.paths.Lookup(path)
}

// Paths returns the served paths, for diagnostics.
func (r *Router) Paths() []string {
	if r == nil {
		return nil
	}
	return r.paths.Paths()
}

// add serves path with h until remove is called.
func (r *Router) add(path, owner string, h fiber.Handler) (remove func(), err error) {
	return r.paths.Add(path, owner, h)
}

// register makes c reachable by its device id.
func (r *Router) register(c *conn) {
	if c.device == "" {
		return
	}
	k := deviceKey{c.tenant, c.device}
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.devices[k]
	if set == nil {
		set = map[*conn]struct{}{}
		r.devices[k] = set
	}
	set[c] = struct{}{}
}

func (r *Router) unregister(c *conn) {
	if c.device == "" {
		return
	}
	k := deviceKey{c.tenant, c.device}
	r.mu.Lock()
	defer r.mu.Unlock()
	if set := r.devices[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(r.devices, k)
		}
	}
}

// conns returns the connections of a device (on path, unless path is empty).
func (r *Router) conns(tenant, deviceID, path string) []*conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	set := r.devices[deviceKey{tenant, deviceID}]
	out := make([]*conn, 0, len(set))
	for c := range set {
		if path == "" || c.path == path {
			out = append(out, c)
		}
	}
	return out
}

// Connected returns how many connections a device of tenant has (on path,
// unless path is empty).
func (r *Router) Connected(tenant, deviceID, path string) int {
	if r == nil {
		return 0
	}
	return len(r.conns(tenant, deviceID, httpin.CleanPath(path)))
}

// Send writes one frame (binary or text) to every connection of a device of
// tenant (on path, unless path is empty) and returns to how many it was
// written. A device without a connection is ErrNotConnected; a device whose
// every connection failed to take the frame is that write error.
func (r *Router) Send(tenant, deviceID, path string, binary bool, data []byte) (int, error) {
	if r == nil {
		return 0, fmt.Errorf("device %q %w", deviceID, ErrNotConnected)
	}
	path = httpin.CleanPath(path)
	cs := r.conns(tenant, deviceID, path)
	if len(cs) == 0 {
		if path != "" {
			return 0, fmt.Errorf("device %q %w on %s/%s", deviceID, ErrNotConnected, Prefix, path)
		}
		return 0, fmt.Errorf("device %q %w", deviceID, ErrNotConnected)
	}
	sent := 0
	var errs []error
	for _, c := range cs {
		if err := c.write(binary, data); err != nil {
			errs = append(errs, err)
			continue
		}
		sent++
	}
	if sent == 0 {
		return 0, fmt.Errorf("send to device %q: %w", deviceID, errors.Join(errs...))
	}
	return sent, nil
}
