// Package conf decodes a parser's JSON config strictly: every key must be a
// field of the target struct (matched by exact name), and a value of the
// wrong type is an error that names the key.
package conf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Decode fills dst (a pointer to a struct whose exported fields are the
// parameters, named as in the pipeline file) from the JSON object data.
// A "Type" key is ignored: pipeline files put it beside the parameters.
func Decode(data []byte, dst any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("config is not a JSON object: %w", err)
	}
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	known := fieldNames(t)
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "Type" {
			continue
		}
		f, ok := t.FieldByName(k)
		if !ok || !f.IsExported() || f.Anonymous {
			return fmt.Errorf("%s: unknown key (known: %s)", k, strings.Join(known, ", "))
		}
		fv := v.FieldByIndex(f.Index)
		if err := decodeValue(raw[k], fv); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

func decodeValue(raw json.RawMessage, fv reflect.Value) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	// A list parameter given as one string is a one-element list.
	if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			fv.Set(reflect.ValueOf([]string{s}).Convert(fv.Type()))
			return nil
		}
	}
	p := reflect.New(fv.Type())
	if err := json.Unmarshal(raw, p.Interface()); err != nil {
		return fmt.Errorf("want %s, got %s", want(fv.Type()), got(raw))
	}
	fv.Set(p.Elem())
	return nil
}

func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(want(t.Elem()), "a ") + "s"
	case reflect.Map:
		return "a map of " + strings.TrimPrefix(want(t.Elem()), "a ") + "s"
	}
	return t.String()
}

func got(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '[':
		return "a list"
	case '{':
		return "a map"
	case 't', 'f':
		return "a bool"
	}
	return "the number " + string(raw)
}

// fieldNames lists the parameter names of t, embedded structs expanded.
func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = append(out, fieldNames(f.Type)...)
		case f.IsExported():
			out = append(out, f.Name)
		}
	}
	sort.Strings(out)
	return out
}
