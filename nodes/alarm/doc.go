// Package alarm holds Sluice's alarm nodes and the alarm core they share.
//
// The core has two halves that know nothing of each other:
//
//   - conditions (condition.go) evaluate to a Truth: true, false or unknown
//     (a signal never seen, older than its maximum age, a rate without two
//     samples). The threshold alarm builds them from AND/OR trees of per-signal
//     rules; the joint alarm can produce a Truth from an expression instead;
//   - the lifecycle (lifecycle.go) turns a stream of Truths into an alarm:
//     duration before active (seconds and consecutive samples), clear after
//     a hold-off with a dead band, severity escalation, acknowledgement,
//     manual clear, repeats and reminders. It is pure: time comes in, changes
//     come out.
//
// Around them, a runtime (runtime.go) keeps the state of every (device, rule)
// in memory, shared by the versions of a deployed node, and writes it through
// the engine's state store (Env.StateKey) so that it survives a redeploy and
// a restart; a timer (timer.go) starts the node on devices whose deadlines
// come due without new data (silence, durations, clear hold-offs, reminders);
// a Recorder (record.go) keeps alarm records and their history; commands
// (command.go) bring an operator's acknowledge and clear from the API into
// the node's state.
package alarm
