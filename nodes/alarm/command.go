package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// Operator commands reach a node through the engine's state store, so that
// they work whether or not the node runs in this process right now:
//
//  1. the API updates the alarm record (acknowledged, or cleared, with who
//     and why) and publishes the change;
//  2. it writes a Command under the alarm's CommandKey (SendCommand);
//  3. it submits a CommandMessage for the device at the alarm node of the
//     deployed flow, so that the node applies the command at once, in the
//     device's order. A node also looks for commands when it loads a
//     device and, while a device has an active alarm, at every sample, so a
//     command whose message was lost is applied at the next sample.
//
// Applying a command updates the node's state (an acknowledged alarm gets
// no more reminders; a cleared one starts over, so that a condition that
// still holds raises a new alarm at the next sample), emits the ALARM event
// (Updated with change "acknowledged", or Cleared), and deletes the command.
// A command for an alarm the node no longer has (cleared meanwhile) is
// dropped.

// Message types a node handles besides telemetry.
const (
	// TickMsgType messages come from the node's timer: evaluate the
	// device's deadlines (silence, durations, clear hold-offs, reminders).
	TickMsgType = "ALARM_TICK"
	// CommandMsgType messages ask the node to apply the device's pending
	// commands.
	CommandMsgType = "ALARM_COMMAND"
)

// commandTTL bounds how long a command waits for its node.
const commandTTL = 7 * 24 * time.Hour

// Command is an operator's acknowledge and/or clear of one alarm.
type Command struct {
	AlarmID string  `json:"alarmId"`
	Ack     *Action `json:"ack,omitempty"`
	Clear   *Action `json:"clear,omitempty"`
}

// Action is who did what and why.
type Action struct {
	By      string    `json:"by,omitempty"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// CommandKey is the state key of the commands for one (device, rule) of an
// alarm node.
func CommandKey(tenant, flowID, nodeID, rule, deviceID string) string {
	e := engine.Env{Tenant: tenant, FlowID: flowID}
	return e.StateKey(nodeID, "cmd/"+rule+"/"+deviceID)
}

// SendCommand stores c under key, merged with a pending command for the same
// alarm (an acknowledge and a clear may both wait).
func SendCommand(ctx context.Context, st engine.StateStore, key string, c Command) error {
	if c.AlarmID == "" {
		return errors.New("send alarm command: no alarm id")
	}
	for range 32 {
		cur, ok, err := st.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("send alarm command: %w", err)
		}
		next := c
		var prev []byte
		if ok {
			prev = cur
			var old Command
			if json.Unmarshal(cur, &old) == nil && old.AlarmID == c.AlarmID {
				if next.Ack == nil {
					next.Ack = old.Ack
				}
				if next.Clear == nil {
					next.Clear = old.Clear
				}
			}
		}
		b, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("send alarm command: %w", err)
		}
		stored, err := st.CompareAndSet(ctx, key, prev, b, commandTTL)
		if err != nil {
			return fmt.Errorf("send alarm command: %w", err)
		}
		if stored {
			return nil
		}
	}
	return errors.New("send alarm command: the command key keeps changing")
}

// CommandMessage is the message that makes an alarm node apply the pending
// commands of a device; submit it at the node (SubmitOptions.StartNode).
func CommandMessage(deviceID string) engine.Message {
	return engine.Message{Type: CommandMsgType, DataType: "JSON", Data: "{}", Metadata: map[string]string{engine.MetaDeviceID: deviceID}}
}

// takeCommand reads and removes the pending command under key (nil when
// none). A command changed meanwhile is left for the next look.
func takeCommand(ctx context.Context, st engine.StateStore, key string) (*Command, error) {
	b, ok, err := st.Get(ctx, key)
	if err != nil || !ok {
		return nil, err
	}
	var c Command
	if err := json.Unmarshal(b, &c); err != nil {
		_ = st.Delete(ctx, key) // unreadable: nothing to apply, ever
		return nil, fmt.Errorf("alarm command %q: %w", key, err)
	}
	// Take it only if nobody changed it meanwhile: the CAS replaces it with
	// an already expired value, which reads as missing (a Delete could
	// remove a command sent in between).
	taken, err := st.CompareAndSet(ctx, key, b, []byte{}, time.Nanosecond)
	if err != nil || !taken {
		return nil, err
	}
	return &c, nil
}
