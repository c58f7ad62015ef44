package engine

import (
	"context"
	"errors"
	"fmt"
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

// ErrOtherTenant is a device authenticated for another tenant than the
// connector's flow: it is refused like an unknown one.
var ErrOtherTenant = fmt.Errorf("device belongs to another tenant: %w", ErrUnauthorized)

// AuthenticateDevice checks a device token for a connector of tenant. A
// refusal wraps ErrUnauthorized (missing or unknown token, no registry) or
// ErrOtherTenant (then the device found is returned too, so that the refusal
// can name it); any other error means the registry did not answer.
func AuthenticateDevice(ctx context.Context, devices DeviceAuth, tenant, token string) (Device, error) {
	if token == "" {
		return Device{}, fmt.Errorf("missing device token: %w", ErrUnauthorized)
	}
	if devices == nil {
		return Device{}, fmt.Errorf("no device registry in this process: %w", ErrUnauthorized)
	}
	dev, err := devices.ByToken(ctx, token)
	if err != nil {
		return Device{}, fmt.Errorf("device token: %w", err)
	}
	if dev.Tenant != tenant {
		return dev, fmt.Errorf("device %q: %w", dev.ID, ErrOtherTenant)
	}
	return dev, nil
}
