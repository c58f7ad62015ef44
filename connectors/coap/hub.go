package coap

import (
	"sync"

	"github.com/plgd-dev/go-coap/v3/message"

	"github.com/sluicehq/sluice/engine"
)

// hub holds the observable resources of one CoAP listener of one tenant:
// their values, set by coapNotify nodes, and the devices observing them. The
// coapIn source and the coapNotify nodes share it through engine.Resources.
type hub struct {
	mu        sync.Mutex
	values    map[string]*value
	observers map[string]map[*observer]struct{} // path -> observers
	byPeer    map[any]int                       // peer -> registrations
}

type value struct {
	payload []byte
	format  message.MediaType
	seq     uint32 // Observe sequence number of the last change
}

// observer is one registration: a device endpoint and the token of its GET.
type observer struct {
	path   string
	peer   any // the endpoint (a *udpClient.Conn); several registrations may share it
	token  string
	notify func(v value) error
	// lastMID is the message id of the last notification: a Reset with it
	// cancels the registration.
	lastMID int32
}

func hubKey(tenant, listen string) string { return "coap/observe/" + tenant + "/" + listen }

// acquireHub returns the hub of a tenant's listener, created on first use,
// and its release function.
func acquireHub(r *engine.Resources, tenant, listen string) (*hub, func() error, error) {
	v, release, err := r.Acquire(hubKey(tenant, listen), func() (any, func() error, error) {
		return &hub{values: map[string]*value{}, observers: map[string]map[*observer]struct{}{}, byPeer: map[any]int{}}, nil, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return v.(*hub), release, nil
}

// get returns the value of path (zero when never set) and registers o when
// it is not nil, replacing a registration with the same peer and token.
func (h *hub) get(path string, o *observer) value {
	h.mu.Lock()
	defer h.mu.Unlock()
	var v value
	if cur := h.values[path]; cur != nil {
		v = *cur
	}
	if o != nil {
		h.removeLocked(path, o.peer, o.token)
		obs := h.observers[path]
		if obs == nil {
			obs = map[*observer]struct{}{}
			h.observers[path] = obs
		}
		obs[o] = struct{}{}
		h.byPeer[o.peer]++
	}
	return v
}

// set changes the value of path and notifies its observers; it returns how
// many were notified. Observers that cannot be reached are dropped.
func (h *hub) set(path string, payload []byte, format message.MediaType) int {
	h.mu.Lock()
	cur := h.values[path]
	if cur == nil {
		cur = &value{}
		h.values[path] = cur
	}
	cur.payload, cur.format = payload, format
	cur.seq = (cur.seq + 1) & 0xffffff // Observe numbers have 24 bits
	v := *cur
	obs := make([]*observer, 0, len(h.observers[path]))
	for o := range h.observers[path] {
		obs = append(obs, o)
	}
	h.mu.Unlock()
	n := 0
	for _, o := range obs {
		if err := o.notify(v); err != nil {
			h.cancel(o)
			continue
		}
		n++
	}
	return n
}

// count returns how many observers path has.
func (h *hub) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.observers[path])
}

// remove cancels the registration of peer with token on path.
func (h *hub) remove(path string, peer any, token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(path, peer, token)
}

func (h *hub) removeLocked(path string, peer any, token string) {
	for o := range h.observers[path] {
		if o.peer == peer && o.token == token {
			h.delLocked(o)
		}
	}
}

// delLocked removes one registration.
func (h *hub) delLocked(o *observer) {
	obs := h.observers[o.path]
	if _, ok := obs[o]; !ok {
		return
	}
	delete(obs, o)
	if len(obs) == 0 {
		delete(h.observers, o.path)
	}
	if h.byPeer[o.peer]--; h.byPeer[o.peer] <= 0 {
		delete(h.byPeer, o.peer)
	}
}

func (h *hub) cancel(o *observer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delLocked(o)
}

// dropPeer cancels every registration of peer (its endpoint is gone).
func (h *hub) dropPeer(peer any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byPeer[peer] == 0 {
		return
	}
	for _, obs := range h.observers {
		for o := range obs {
			if o.peer == peer {
				h.delLocked(o)
			}
		}
	}
}

// resetBy cancels the registration of peer whose last notification had
// message id mid (the device answered it with a Reset).
func (h *hub) resetBy(peer any, mid int32) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byPeer[peer] == 0 {
		return false
	}
	for _, obs := range h.observers {
		for o := range obs {
			if o.peer == peer && o.lastMID == mid {
				h.delLocked(o)
				return true
			}
		}
	}
	return false
}

// observing reports whether peer observes any resource.
func (h *hub) observing(peer any) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byPeer[peer] > 0
}

// setMID records the message id of o's last notification.
func (h *hub) setMID(o *observer, mid int32) {
	h.mu.Lock()
	o.lastMID = mid
	h.mu.Unlock()
}
