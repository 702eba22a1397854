package stigmem

import (
	"encoding/json"
	"fmt"
)

// ValueType is one of the value types of spec section 3.
type ValueType string

const (
	TypeString   ValueType = "string"
	TypeText     ValueType = "text"
	TypeNumber   ValueType = "number"
	TypeBoolean  ValueType = "boolean"
	TypeDatetime ValueType = "datetime"
	TypeRef      ValueType = "ref"
	TypeNull     ValueType = "null"
)

// Value is a typed fact value: {"type": ..., "v": ...}. Build one with String, Text,
// Number, Bool, Datetime, Ref or Null; the node checks v against its type.
type Value struct {
	Type ValueType
	// V is a string (string, text, datetime, ref), a float64 (number), a bool (boolean)
	// or nil (null).
	V interface{}
	// InterpretAs is "content" on every value the node returns; empty on input means content.
	InterpretAs string
}

func String(s string) Value   { return Value{Type: TypeString, V: s} }
func Text(s string) Value     { return Value{Type: TypeText, V: s} }
func Number(f float64) Value  { return Value{Type: TypeNumber, V: f} }
func Bool(b bool) Value       { return Value{Type: TypeBoolean, V: b} }
func Datetime(s string) Value { return Value{Type: TypeDatetime, V: s} }
func Ref(entity string) Value { return Value{Type: TypeRef, V: entity} }
func Null() Value             { return Value{Type: TypeNull} }

// Str returns V as a string and whether it is one (string, text, datetime, ref).
func (v Value) Str() (string, bool) { s, ok := v.V.(string); return s, ok }

// Num returns V as a number and whether it is one.
func (v Value) Num() (float64, bool) { f, ok := v.V.(float64); return f, ok }

// Boolean returns V as a bool and whether it is one.
func (v Value) Boolean() (bool, bool) { b, ok := v.V.(bool); return b, ok }

func (v Value) String() string { return fmt.Sprintf("%s:%v", v.Type, v.V) }

type wireValue struct {
	Type        ValueType   `json:"type"`
	V           interface{} `json:"v"`
	InterpretAs string      `json:"interpret_as,omitempty"`
}

func (v Value) MarshalJSON() ([]byte, error) {
	if v.Type == "" {
		return nil, fmt.Errorf("stigmem: a Value needs a Type")
	}
	return json.Marshal(wireValue{Type: v.Type, V: v.V, InterpretAs: v.InterpretAs})
}

func (v *Value) UnmarshalJSON(data []byte) error {
	var w wireValue
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	switch w.V.(type) {
	case nil, string, float64, bool:
	default:
		return fmt.Errorf("stigmem: value of type %s: v is %T, not a scalar", w.Type, w.V)
	}
	*v = Value{Type: w.Type, V: w.V, InterpretAs: w.InterpretAs}
	return nil
}
