package spec

import (
	"encoding/json"
	"fmt"
	"time"
)

// JSONDuration decodes a Duration field ("500ms", "5s") in a node's config
// struct; Decode has already checked the string.
type JSONDuration time.Duration

// D returns the value as a time.Duration.
func (d JSONDuration) D() time.Duration { return time.Duration(d) }

// MarshalJSON encodes the duration as a string such as "1m30s".
func (d JSONDuration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON decodes a duration string.
func (d *JSONDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = JSONDuration(v)
	return nil
}
