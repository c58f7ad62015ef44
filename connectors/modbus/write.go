package modbus

import (
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/rulego/rulego/api/types"
	mb "github.com/simonvetter/modbus"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

type writeConfig struct {
	Host    string            `json:"host"`
	Port    int               `json:"port"`
	UnitID  int               `json:"unitId"`
	Timeout spec.JSONDuration `json:"timeout"`
	Writes  []writeItem       `json:"writes"`
}

type writeItem struct {
	Field     string   `json:"field"`
	Value     *float64 `json:"value"`
	Area      string   `json:"area"`
	Address   int      `json:"address"`
	Type      string   `json:"type"`
	WordOrder string   `json:"wordOrder"`
	ByteOrder string   `json:"byteOrder"`
	Scale     float64  `json:"scale"`
	Offset    float64  `json:"offset"`
}

func (w writeItem) format() Format {
	return Format{Type: Type(w.Type), WordOrder: Order(w.WordOrder), ByteOrder: Order(w.ByteOrder), Scale: w.Scale, Offset: w.Offset}
}

// writeOp is one write, converted: what the node writes (or, in a test
// run, would write). It is reported in metadata modbusWrites.
type writeOp struct {
	Area      Area     `json:"area"`
	Address   int      `json:"address"`
	Type      Type     `json:"type"`
	Value     any      `json:"value"`
	Registers []uint16 `json:"registers,omitempty"`
	Coil      *bool    `json:"coil,omitempty"`
}

// Metadata keys the write node sets.
const (
	MetaWrites = "modbusWrites"
	MetaDryRun = "dryRun"
)

// WriteNode is the modbusWrite node: it writes registers and coils of one
// device. It connects on its first write and keeps the connection; a
// connection that failed is replaced on the next message. Destroy closes it.
type WriteNode struct {
	cfg       writeConfig
	addr      string
	needsBody bool
	libLog    *log.Logger

	mu     sync.Mutex // one request at a time on the connection
	client *mb.ModbusClient
}

var _ types.Node = (*WriteNode)(nil)

// Type implements types.Node.
func (n *WriteNode) Type() string { return WriteType }

// New implements types.Node.
func (n *WriteNode) New() types.Node { return &WriteNode{} }

// Init implements types.Node; it does not connect.
func (n *WriteNode) Init(_ types.Config, raw types.Configuration) error {
	if err := writeSpec.Decode(raw, &n.cfg); err != nil {
		return fmt.Errorf("%s: %w", WriteType, err)
	}
	n.addr = net.JoinHostPort(n.cfg.Host, strconv.Itoa(n.cfg.Port))
	for _, w := range n.cfg.Writes {
		if w.Field != "" {
			n.needsBody = true
		}
	}
	n.libLog = log.New(slogWriter{slog.Default()}, "", 0)
	return nil
}

// OnMsg implements types.Node.
func (n *WriteNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	ops, err := n.convert(msg)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("%s to %s unit %d: %w", WriteType, n.addr, n.cfg.UnitID, err))
		return
	}
	report, err := json.Marshal(ops)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("%s: report writes: %w", WriteType, err))
		return
	}
	msg.Metadata = msg.Metadata.Copy()
	msg.Metadata.PutValue(MetaWrites, string(report))
	if env := engine.EnvOf(ctx); env != nil && !env.SideEffects {
		msg.Metadata.PutValue(MetaDryRun, "true")
		ctx.TellSuccess(msg)
		return
	}
	if err := n.write(ops); err != nil {
		ctx.TellFailure(msg, fmt.Errorf("%s to %s unit %d: %w", WriteType, n.addr, n.cfg.UnitID, err))
		return
	}
	ctx.TellSuccess(msg)
}

// Destroy implements types.Node: it closes the connection.
func (n *WriteNode) Destroy() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client != nil {
		_ = n.client.Close() // nothing to report to
		n.client = nil
	}
}

// convert turns the configured writes into register values for msg.
func (n *WriteNode) convert(msg types.RuleMsg) ([]writeOp, error) {
	var body any
	if n.needsBody {
		dec := json.NewDecoder(strings.NewReader(msg.Data))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return nil, fmt.Errorf("decode payload: %w", err)
		}
	}
	ops := make([]writeOp, 0, len(n.cfg.Writes))
	for i, w := range n.cfg.Writes {
		var v any
		if w.Value != nil {
			v = *w.Value
		} else {
			var ok bool
			if v, ok = lookup(body, w.Field); !ok {
				return nil, fmt.Errorf("writes[%d]: field %q is not in the payload", i, w.Field)
			}
		}
		op := writeOp{Area: Area(w.Area), Address: w.Address, Type: Type(w.Type), Value: v}
		if op.Area == Coil {
			on, err := EncodeBit(v)
			if err != nil {
				return nil, fmt.Errorf("writes[%d] (%s): %w", i, describeSource(w), err)
			}
			op.Coil = &on
		} else {
			regs, err := Encode(v, w.format())
			if err != nil {
				return nil, fmt.Errorf("writes[%d] (%s): %w", i, describeSource(w), err)
			}
			op.Registers = regs
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func describeSource(w writeItem) string {
	if w.Field != "" {
		return "field " + strconv.Quote(w.Field)
	}
	return "fixed value"
}

// lookup finds a dotted path in a decoded JSON value; a segment that is a
// number indexes a list.
func lookup(v any, path string) (any, bool) {
	for seg := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// write runs ops in order on the node's connection, opening it if needed;
// after a failure that is not a Modbus exception the connection is closed,
// and the next message opens a new one.
func (n *WriteNode) write(ops []writeOp) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + n.addr, Timeout: n.cfg.Timeout.D(), Logger: n.libLog})
		if err != nil {
			return fmt.Errorf("configure client: %w", err)
		}
		if err := c.Open(); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		if err := c.SetUnitId(uint8(n.cfg.UnitID)); err != nil {
			_ = c.Close() // SetUnitId's error is the one to report
			return fmt.Errorf("unit id: %w", err)
		}
		n.client = c
	}
	for i, op := range ops {
		var err error
		switch {
		case op.Coil != nil:
			err = n.client.WriteCoil(uint16(op.Address), *op.Coil)
		case len(op.Registers) == 1:
			err = n.client.WriteRegister(uint16(op.Address), op.Registers[0])
		default:
			err = n.client.WriteRegisters(uint16(op.Address), op.Registers)
		}
		if err != nil {
			if !isException(err) {
				_ = n.client.Close() // the write error says what went wrong
				n.client = nil
			}
			return fmt.Errorf("writes[%d]: write %s: %w", i, opName(op), err)
		}
	}
	return nil
}

func opName(op writeOp) string {
	if op.Coil != nil {
		return fmt.Sprintf("coil %d", op.Address)
	}
	if len(op.Registers) == 1 {
		return fmt.Sprintf("holding register %d", op.Address)
	}
	return fmt.Sprintf("holding registers %d-%d", op.Address, op.Address+len(op.Registers)-1)
}
