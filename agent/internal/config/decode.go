package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
)

// This file decodes the generic maps that YAML and JSON parse into onto the
// typed structs of types.go, strictly: a key is a struct field of the same
// name (case-sensitive, as LoongCollector spells it), and anything else is an
// error unless the section's keyPolicy lists it.

// keyPolicy lists the keys of a section that are not struct fields but are
// not unknown either.
type keyPolicy struct {
	// owner names the section in "not supported yet" errors, e.g. "input_file".
	owner string
	// ignored are LoongCollector keys that change nothing in wasmtail; they
	// are accepted whatever their value.
	ignored []string
	// unsupported are LoongCollector keys whose behaviour wasmtail does not
	// implement yet. A zero value (false, "", 0, an empty list or map, null)
	// asks for nothing and is accepted; any other value is an error.
	unsupported []string
	// nested gives the policy of struct-valued fields, by field name.
	nested map[string]keyPolicy
}

// decodeStruct sets the fields of dst (a pointer to a struct) from raw,
// leaving absent fields at their defaults. Errors are appended to errs;
// prefix ("Multiline.") is put in front of every key they name.
func decodeStruct(raw map[string]any, dst any, prefix string, pol keyPolicy) []error {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	var fields []string
	for i := range t.NumField() {
		if t.Field(i).IsExported() {
			fields = append(fields, t.Field(i).Name)
		}
	}
	var errs []error
	for _, key := range sortedKeys(raw) {
		val := raw[key]
		switch {
		case slices.Contains(pol.ignored, key):
			continue
		case slices.Contains(pol.unsupported, key):
			if !isZero(val) {
				errs = append(errs, keyErrorf(prefix+key, "not supported yet by %s in wasmtail", pol.owner))
			}
			continue
		}
		f, ok := t.FieldByName(key)
		if !ok || !f.IsExported() {
			candidates := append(append(append([]string(nil), fields...), pol.ignored...), pol.unsupported...)
			errs = append(errs, unknownKey(prefix, key, candidates))
			continue
		}
		if val == nil {
			continue // `Key:` with no value keeps the default
		}
		fv := v.FieldByIndex(f.Index)
		if fv.Kind() == reflect.Struct {
			m, ok := val.(map[string]any)
			if !ok {
				errs = append(errs, keyErrorf(prefix+key, "want a map, got %s", describe(val)))
				continue
			}
			errs = append(errs, decodeStruct(m, fv.Addr().Interface(), prefix+key+".", pol.nested[key])...)
			continue
		}
		if err := setValue(fv, val); err != nil {
			errs = append(errs, keyErrorf(prefix+key, "%s", err))
		}
	}
	return errs
}

// setValue sets a field of one of the kinds the config structs use.
func setValue(fv reflect.Value, val any) error {
	switch fv.Kind() {
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			return fmt.Errorf("want a boolean (true or false), got %s", describe(val))
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := toInt(val)
		if !ok {
			return fmt.Errorf("want an integer, got %s", describe(val))
		}
		fv.SetInt(n)
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", describe(val))
		}
		fv.SetString(s)
	case reflect.Slice: // []string
		list, ok := val.([]any)
		if !ok {
			return fmt.Errorf("want a list of strings, got %s", describe(val))
		}
		out := make([]string, 0, len(list))
		for i, item := range list {
			s, ok := item.(string)
			if !ok {
				return fmt.Errorf("[%d]: want a string, got %s", i, describe(item))
			}
			out = append(out, s)
		}
		fv.Set(reflect.ValueOf(out))
	case reflect.Map: // map[string]string
		m, ok := val.(map[string]any)
		if !ok {
			return fmt.Errorf("want a map of strings, got %s", describe(val))
		}
		out := make(map[string]string, len(m))
		for _, k := range sortedKeys(m) {
			switch s := m[k].(type) {
			case string:
				out[k] = s
			case nil: // `Key:` with no value is the empty string
				out[k] = ""
			default:
				return fmt.Errorf("%s: want a string, got %s", k, describe(s))
			}
		}
		fv.Set(reflect.ValueOf(out))
	default:
		panic(fmt.Sprintf("config: field kind %s not handled", fv.Kind()))
	}
	return nil
}

// toInt accepts the integer types the parsers produce and floats with no
// fractional part (JSON has one number type).
func toInt(val any) (int64, bool) {
	switch n := val.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || n < math.MinInt64 || n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// describe renders a value for "got ..." in error messages.
func describe(val any) string {
	switch v := val.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	default:
		return fmt.Sprint(v)
	}
}

// isZero reports whether a parsed value asks for nothing.
func isZero(val any) bool {
	switch v := val.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	n, ok := toInt(val)
	return ok && n == 0
}

// normalize turns what the YAML and JSON parsers produce into one shape:
// maps are map[string]any, lists []any, numbers int or float64. Processor
// parameters keep this shape, so a factory sees the same types from both
// formats and can marshal them back to JSON.
func normalize(val any) any {
	switch v := val.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalize(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = normalize(e)
		}
		return v
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 0); err == nil {
			return int(n)
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return string(v)
	}
	return val
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
