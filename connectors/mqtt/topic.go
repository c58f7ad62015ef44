package mqtt

import (
	"fmt"
	"strings"
)

// sharePrefix starts a shared subscription filter: $share/{group}/{filter}.
const sharePrefix = "$share/"

// checkFilter reports what is wrong with an MQTT topic filter (MQTT 3.1.1
// §4.7): "#" only as the whole last level, "+" only as a whole level.
func checkFilter(f string) error {
	if f == "" {
		return fmt.Errorf("empty topic filter")
	}
	if strings.HasPrefix(f, sharePrefix) {
		return fmt.Errorf("write the filter without $share/: set sharedGroup instead")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("%q: # must be the last level", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return fmt.Errorf("%q: a wildcard (+ or #) must fill a whole level", f)
		}
	}
	return nil
}

// matchTopic reports whether topic matches filter (MQTT 3.1.1 §4.7). A
// shared filter ($share/{group}/f) matches like f. Topics that start with
// "$" are not matched by a leading wildcard.
func matchTopic(filter, topic string) bool {
	if strings.HasPrefix(filter, sharePrefix) {
		rest := filter[len(sharePrefix):]
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return false
		}
		filter = rest[i+1:]
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" matches "a" (the parent level).
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// pattern extracts named levels from a topic: devices/{deviceId}/telemetry
// binds deviceId to the second level. "+" matches any one level, a last "#"
// any number of levels (also none).
type pattern struct {
	levels []string
	names  []string // the names of the {name} levels, in order
}

func parsePattern(s string) (*pattern, error) {
	if s == "" {
		return nil, nil
	}
	p := &pattern{levels: strings.Split(s, "/")}
	seen := map[string]bool{}
	for i, l := range p.levels {
		switch {
		case strings.HasPrefix(l, "{") && strings.HasSuffix(l, "}"):
			name := l[1 : len(l)-1]
			if name == "" || strings.ContainsAny(name, "{}#+") {
				return nil, fmt.Errorf("level %q: want {name}", l)
			}
			if seen[name] {
				return nil, fmt.Errorf("{%s} appears twice", name)
			}
			seen[name] = true
			p.names = append(p.names, name)
		case l == "#" && i != len(p.levels)-1:
			return nil, fmt.Errorf("# must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "{}#+"):
			return nil, fmt.Errorf("level %q: a wildcard or {name} must fill a whole level", l)
		}
	}
	return p, nil
}

// match binds the pattern's names in topic; ok is false when topic does not
// have the pattern's shape (then nothing is bound).
func (p *pattern) match(topic string, bind func(name, value string)) bool {
	if p == nil {
		return false
	}
	var buf [8]string
	vals := buf[:0] // the values of p.names, in order
	rest, more := topic, true
	ok := func() bool {
		for _, l := range p.levels {
			if l == "#" {
				return true
			}
			if !more {
				return false
			}
			var level string
			level, rest, more = strings.Cut(rest, "/")
			switch {
			case l == "+":
			case strings.HasPrefix(l, "{"):
				if level == "" {
					return false
				}
				vals = append(vals, level)
			case l != level:
				return false
			}
		}
		return !more
	}()
	if ok && bind != nil {
		for i, v := range vals {
			bind(p.names[i], v)
		}
	}
	return ok
}
