package alarm

// Truth is the value of a condition: three-valued, so that a missing or stale
// input never passes for false (which would clear an alarm) nor for true.
type Truth uint8

// Truth values.
const (
	False Truth = iota
	True
	Unknown
)

// String implements fmt.Stringer.
func (t Truth) String() string {
	switch t {
	case False:
		return "false"
	case True:
		return "true"
	}
	return "unknown"
}

// And is Kleene's conjunction: false wins, then unknown.
func And(a, b Truth) Truth {
	switch {
	case a == False || b == False:
		return False
	case a == Unknown || b == Unknown:
		return Unknown
	}
	return True
}

// Or is Kleene's disjunction: true wins, then unknown.
func Or(a, b Truth) Truth {
	switch {
	case a == True || b == True:
		return True
	case a == Unknown || b == Unknown:
		return Unknown
	}
	return False
}

// truthOf converts a bool.
func truthOf(b bool) Truth {
	if b {
		return True
	}
	return False
}
