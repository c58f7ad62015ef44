package mqtt

import (
	"maps"
	"testing"
)

func TestMatchTopic(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"+", "a", true},
		{"+/+", "a/", true},
		{"a/+", "a", false},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$share/g/a/+", "a/b", true},
		{"$share/g/a/+", "b/b", false},
		{"a", "a/b", false},
	} {
		if got := matchTopic(c.filter, c.topic); got != c.want {
			t.Errorf("matchTopic(%q, %q) = %v", c.filter, c.topic, got)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	for f, ok := range map[string]bool{"a/b": true, "a/+/c": true, "#": true, "a/#": true, "": false, "a/#/b": false, "a+/b": false, "a/b#": false, "$share/g/a": false} {
		if err := checkFilter(f); (err == nil) != ok {
			t.Errorf("checkFilter(%q) = %v", f, err)
		}
	}
}

func TestPattern(t *testing.T) {
	for _, c := range []struct {
		pattern, topic string
		want           map[string]string // nil: no match
	}{
		{"devices/{deviceId}/telemetry", "devices/boiler-7/telemetry", map[string]string{"deviceId": "boiler-7"}},
		{"devices/{deviceId}/telemetry", "devices/boiler-7/status", nil},
		{"devices/{deviceId}/telemetry", "devices/boiler-7/telemetry/x", nil},
		{"devices/{deviceId}/telemetry", "devices//telemetry", nil},
		{"{site}/+/{deviceId}/#", "plant1/hall/pump-3/a/b", map[string]string{"site": "plant1", "deviceId": "pump-3"}},
		{"{site}/+/{deviceId}/#", "plant1/hall/pump-3", map[string]string{"site": "plant1", "deviceId": "pump-3"}},
		{"{site}/+/{deviceId}/#", "plant1/hall", nil},
	} {
		p, err := parsePattern(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		ok := p.match(c.topic, func(k, v string) { got[k] = v })
		if (c.want == nil) != !ok || (ok && !maps.Equal(got, c.want)) || (!ok && len(got) > 0) {
			t.Errorf("%q on %q: %v %v", c.pattern, c.topic, ok, got)
		}
	}
	for _, bad := range []string{"a/{}/b", "a/{x", "a/#/b", "a/{x}/{x}", "a/x{y}"} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("parsePattern(%q) accepted", bad)
		}
	}
}

func FuzzPattern(f *testing.F) {
	f.Add("devices/{deviceId}/telemetry", "devices/a/telemetry")
	f.Add("{a}/+/#", "x/y/z/w")
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		p, err := parsePattern(pattern)
		if err != nil || p == nil {
			return
		}
		p.match(topic, func(string, string) {})
		matchTopic(pattern, topic)
	})
}
