package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ghodss/yaml"
	"github.com/xeipuuv/gojsonschema"
)

func readValuesFile(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	vals := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", file, err)
	}
	if vals == nil {
		vals = map[string]interface{}{}
	}
	return vals, nil
}

// mergeMaps merges user values files the way helm's cli/values does: nested maps merge, anything
// else from b replaces a's value.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if om, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(om, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesceValues is chartutil.CoalesceValues for a chart without subcharts: the user's values win,
// the chart's defaults fill the gaps, and a user null deletes the default key.
func coalesceValues(defaults, user map[string]interface{}) map[string]interface{} {
	dst := deepCopy(user).(map[string]interface{})
	coalesceTables(dst, deepCopy(defaults).(map[string]interface{}))
	return dst
}

func coalesceTables(dst, src map[string]interface{}) {
	for key, val := range src {
		dv, ok := dst[key]
		if !ok {
			dst[key] = val
			continue
		}
		if dv == nil {
			delete(dst, key)
			continue
		}
		if dm, ok := dv.(map[string]interface{}); ok {
			if sm, ok := val.(map[string]interface{}); ok {
				coalesceTables(dm, sm)
			}
		}
	}
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			m[k] = deepCopy(val)
		}
		return m
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, val := range t {
			l[i] = deepCopy(val)
		}
		return l
	default:
		return v
	}
}

// validateAgainstSchema is chartutil.ValidateAgainstSchema for one chart, with helm's message.
func validateAgainstSchema(chartName string, values map[string]interface{}, schema []byte) error {
	valuesYAML, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	valuesJSON, err := yaml.YAMLToJSON(valuesYAML)
	if err != nil {
		return err
	}
	if string(valuesJSON) == "null" {
		valuesJSON = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(valuesJSON))
	if err != nil {
		return fmt.Errorf("values.schema.json of %s: %w", chartName, err)
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	sb.WriteString(chartName + ":\n")
	for _, desc := range result.Errors() {
		sb.WriteString(fmt.Sprintf("- %s\n", desc))
	}
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s", sb.String())
}

// parseSet applies one --set argument like helm's strvals.ParseInto: comma-separated
// assignments, dotted keys, list indexes a[0], {a,b} lists, typed scalars.
func parseSet(s string, dest map[string]interface{}) error {
	for _, assignment := range splitUnescaped(s, ',', true) {
		eq := indexUnescaped(assignment, '=')
		if eq < 0 {
			return fmt.Errorf("key %q has no value", assignment)
		}
		path, err := parseKeyPath(assignment[:eq])
		if err != nil {
			return err
		}
		raw := assignment[eq+1:]
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			list := []interface{}{}
			inner := raw[1 : len(raw)-1]
			if inner != "" {
				for _, item := range splitUnescaped(inner, ',', false) {
					list = append(list, typedVal(unescape(item)))
				}
			}
			value = list
		} else {
			value = typedVal(unescape(raw))
		}
		setIn(dest, path, value)
	}
	return nil
}

type pathPart struct {
	key   string
	index int
	isIdx bool
}

func parseKeyPath(key string) ([]pathPart, error) {
	var parts []pathPart
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, pathPart{key: cur.String()})
			cur.Reset()
		}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key):
			i++
			cur.WriteByte(key[i])
		case c == '.':
			flush()
		case c == '[':
			flush()
			end := strings.IndexByte(key[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("key %q has an unterminated [", key)
			}
			n, err := strconv.Atoi(key[i+1 : i+end])
			if err != nil || n < 0 || n > 65536 {
				return nil, fmt.Errorf("key %q has an invalid list index", key)
			}
			parts = append(parts, pathPart{index: n, isIdx: true})
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	if len(parts) == 0 || parts[0].isIdx {
		return nil, fmt.Errorf("key %q is invalid", key)
	}
	return parts, nil
}

// setIn returns container with value set at path, creating maps and lists on the way.
func setIn(container interface{}, path []pathPart, value interface{}) interface{} {
	part := path[0]
	if part.isIdx {
		list, _ := container.([]interface{})
		for len(list) <= part.index {
			list = append(list, nil)
		}
		if len(path) == 1 {
			list[part.index] = value
		} else {
			list[part.index] = setIn(list[part.index], path[1:], value)
		}
		return list
	}
	m, ok := container.(map[string]interface{})
	if !ok {
		m = map[string]interface{}{}
	}
	if len(path) == 1 {
		m[part.key] = value
	} else {
		m[part.key] = setIn(m[part.key], path[1:], value)
	}
	return m
}

func typedVal(val string) interface{} {
	if strings.EqualFold(val, "true") {
		return true
	}
	if strings.EqualFold(val, "false") {
		return false
	}
	if strings.EqualFold(val, "null") {
		return nil
	}
	if val == "0" {
		return int64(0)
	}
	if len(val) != 0 && val[0] != '0' {
		if iv, err := strconv.ParseInt(val, 10, 64); err == nil {
			return iv
		}
	}
	return val
}

func indexUnescaped(s string, sep byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			return i
		}
	}
	return -1
}

// splitUnescaped splits on sep outside backslash escapes (and outside {...} when braces is set),
// keeping the escapes for the later steps.
func splitUnescaped(s string, sep byte, braces bool) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			if braces {
				depth++
			}
		case '}':
			if braces && depth > 0 {
				depth--
			}
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
