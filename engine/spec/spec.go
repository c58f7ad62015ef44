// Package spec describes Sluice's node types. One spec per node type drives
// three things: validation of a flow's configuration, the designer's form for
// the node (GET /api/v1/nodes) and the node reference in docs/.
package spec

import "slices"

// FieldType is the type of a config field.
type FieldType string

// Field types a spec can declare.
const (
	String     FieldType = "string"
	Int        FieldType = "int"
	Float      FieldType = "float"
	Bool       FieldType = "bool"
	Duration   FieldType = "duration"   // a Go duration string: "500ms", "5s", "1m30s"
	Enum       FieldType = "enum"       // one of Field.Enum
	Cron       FieldType = "cron"       // a cron expression with seconds
	Code       FieldType = "code"       // source code in Field.Language
	Expression FieldType = "expression" // an expr-lang expression
	Object     FieldType = "object"     // nested Field.Fields
	List       FieldType = "list"       // a list of objects, each with Field.Fields
	Map        FieldType = "map"        // string keys, values of Field.Item's type (string when nil)
	Secret     FieldType = "secret"     // a string stored encrypted and masked by the API
	Ref        FieldType = "ref"        // a reference to a Field.RefKind (flow, device, template)
)

// Reference kinds for Ref fields.
const (
	RefFlow     = "flow"
	RefDevice   = "device"
	RefTemplate = "template"
)

// Field describes one config field of a node type.
type Field struct {
	Name     string    `json:"name"`
	Type     FieldType `json:"type"`
	Label    string    `json:"label,omitempty"`
	Help     string    `json:"help"`
	Default  any       `json:"default,omitempty"`
	Required bool      `json:"required,omitempty"`
	// Min and Max bound an Int or Float value, a Duration in seconds, and
	// the number of items of a List or Map.
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Enum    []string `json:"enum,omitempty"`
	Example any      `json:"example,omitempty"`
	// Language of a Code field ("javascript", "sql", ...).
	Language string `json:"language,omitempty"`
	// RefKind of a Ref field.
	RefKind string `json:"refKind,omitempty"`
	// Fields of an Object field, or of each item of a List field.
	Fields []*Field `json:"fields,omitempty"`
	// Item is the value type of a Map field (nil means string values), or
	// of each item of a List of scalars (then Fields is empty).
	Item *Field `json:"item,omitempty"`
	// Vars says that ${vars.x} placeholders are accepted in this field. RuleGo
	// substitutes them in top-level string values only, at init, so only
	// top-level fields may set it. Check skips the type check of a value
	// holding one; CheckResolved and Decode check the substituted value.
	Vars bool `json:"vars,omitempty"`
	// Predicate marks an Expression field that must evaluate to a bool.
	Predicate bool `json:"predicate,omitempty"`
	// Exclusive names a resource that only one deployed node may claim with
	// a given value ("listen", "ingestPath", "mqttClientId"); validation reports
	// two flows that claim the same one.
	Exclusive string `json:"exclusive,omitempty"`
	// Advanced fields are folded away in the designer's form.
	Advanced bool `json:"advanced,omitempty"`
}

// Relations describes the relations a node emits.
type Relations struct {
	// Fixed relations the node always may emit.
	Fixed []string `json:"fixed,omitempty"`
	// FromField names a config field whose values (a list of objects: the
	// item field FromKey; a map: its keys) add one relation each, as a
	// switch does with its cases.
	FromField string `json:"fromField,omitempty"`
	FromKey   string `json:"fromKey,omitempty"`
	// Dynamic relations cannot be known before run time: any relation name
	// is accepted on connections.
	Dynamic bool `json:"dynamic,omitempty"`
	// DynamicIf names a Bool config field: when it is true, the relations
	// are dynamic (a sub-flow node passing its sub-flow's relations through).
	DynamicIf string `json:"dynamicIf,omitempty"`
}

// Example is a complete, valid configuration of a node type.
type Example struct {
	Title  string         `json:"title"`
	Config map[string]any `json:"config"`
}

// Category is a group of node types in the designer's palette.
type Category struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Help  string `json:"help"`
}

// Categories returns the palette categories in display order. A spec's
// Category must be one of their names.
func Categories() []Category { return slices.Clone(categories) }

var categories = []Category{
	{Name: "connectors", Label: "Connectors", Help: "Sources and sinks that connect a flow to devices and systems."},
	{Name: "filter", Label: "Filter", Help: "Route messages by their content."},
	{Name: "transform", Label: "Transform", Help: "Change a message's payload or metadata."},
	{Name: "action", Label: "Action", Help: "Do something with a message: log it, delay it."},
	{Name: "external", Label: "External", Help: "Call other systems."},
	{Name: "flow", Label: "Flow", Help: "Structure flows: fan out, join branches, call other flows."},
	{Name: "alarm", Label: "Alarms", Help: "Raise, update and clear alarms from telemetry."},
	{Name: "storage", Label: "Storage", Help: "Write messages to time-series stores and databases."},
}

// Num returns a pointer to v, for Field.Min and Field.Max.
func Num(v float64) *float64 { return &v }

// Node is the spec of one node type.
type Node struct {
	Type     string `json:"type"`
	Category string `json:"category"`
	Summary  string `json:"summary"`
	// Version of the spec; stored with each node of a flow so that a later
	// version can migrate older configs.
	Version   int       `json:"version"`
	Fields    []*Field  `json:"fields"`
	Relations Relations `json:"relations"`
	// Source marks a connector: a node that starts messages in a flow.
	Source bool `json:"source,omitempty"`
	// Doc is longer reference text for docs/nodes.md (Markdown).
	Doc string `json:"doc,omitempty"`
	// Examples are complete configurations; each must pass Check.
	Examples []Example `json:"examples,omitempty"`
	// Validate checks what single fields cannot express (one of two fields
	// required, fields that exclude each other). Check calls it only when
	// every field is well-typed, with the config's defaults applied; a
	// ${vars.x} string may still stand in for any Vars field's value.
	// Problems it returns carry Field and Message; Severity defaults to error.
	Validate func(cfg map[string]any) Problems `json:"-"`
}
