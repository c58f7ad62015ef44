package engine

import (
	"context"
	"errors"
)

// ErrUnauthorized is what DeviceAuth answers for an unknown or wrong
// credential. Connectors refuse such a device and count it; its data never
// reaches a flow.
var ErrUnauthorized = errors.New("unknown or wrong device credential")

// Device is a registered device, as connectors see it.
type Device struct {
	ID     string   `json:"id"`
	Tenant string   `json:"tenant"`
	Name   string   `json:"name"`
	Group  string   `json:"group,omitempty"`
	Tags   []string `json:"tags,omitempty"`
}

// DeviceAuth authenticates devices against the device registry. Credentials
// are unique across tenants, so the device found names its tenant; a
// connector accepts it only for its own flow's tenant.
type DeviceAuth interface {
	// ByToken returns the device a token belongs to.
	ByToken(ctx context.Context, token string) (Device, error)
	// ByPassword checks a username and password (MQTT CONNECT).
	ByPassword(ctx context.Context, username, password string) (Device, error)
}
