package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

// recursionMaxNums is helm's limit on nested include of one template.
const recursionMaxNums = 1000

// render is helm's engine.Render for one chart: every template parsed into one set (so defines
// are shared), each non-partial executed with missingkey=zero and "<no value>" removed. In lint
// mode, as helm lint renders (LintMode, never Strict in helm 3), required and fail only warn.
func render(ch *chart, top map[string]interface{}, lint bool) (map[string]string, error) {
	prefix := ch.Metadata.Name + "/"
	basePath := ch.Metadata.Name + "/templates"
	names := make([]string, 0, len(ch.Templates))
	sources := map[string]string{}
	for _, f := range ch.Templates {
		name := prefix + f.name
		names = append(names, name)
		sources[name] = string(f.data)
	}
	// helm's sortTemplates: deepest paths first, then reverse lexical, so later defines of a
	// name in shallower files win.
	sort.Slice(names, func(i, j int) bool {
		di, dj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
		if di != dj {
			return di > dj
		}
		return names[i] > names[j]
	})

	t := template.New("gotpl").Option("missingkey=zero")
	t.Funcs(funcMap(t, lint))
	for _, name := range names {
		if _, err := t.New(name).Parse(sources[name]); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}
	rendered := map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		top["Template"] = map[string]interface{}{"Name": name, "BasePath": basePath}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			return nil, cleanupExecError(name, err)
		}
		rendered[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return rendered, nil
}

func funcMap(t *template.Template, lint bool) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	included := map[string]int{}
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"mustToYaml":    mustToYAML,
		"fromYaml":      fromDocument(unmarshalYAML),
		"fromYamlArray": fromDocumentArray(unmarshalYAML),
		"toJson":        toJSON,
		"mustToJson":    mustToJSON,
		"fromJson":      fromDocument(json.Unmarshal),
		"fromJsonArray": fromDocumentArray(json.Unmarshal),
		"include": func(name string, data interface{}) (string, error) {
			if included[name] > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			included[name]++
			defer func() { included[name]-- }()
			var buf strings.Builder
			err := t.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, vals interface{}) (string, error) {
			clone, err := t.Clone()
			if err != nil {
				return "", err
			}
			name := "tpl"
			if m, ok := vals.(map[string]interface{}); ok {
				if tm, ok := m["Template"].(map[string]interface{}); ok {
					if n, ok := tm["Name"].(string); ok {
						name = n
					}
				}
			}
			if _, err := clone.New(name).Parse(text); err != nil {
				return "", fmt.Errorf("cannot parse template %q: %w", text, err)
			}
			var buf strings.Builder
			if err := clone.ExecuteTemplate(&buf, name, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
		"required": func(warn string, val interface{}) (interface{}, error) {
			missing := val == nil
			if s, ok := val.(string); ok && s == "" {
				missing = true
			}
			if missing && lint {
				fmt.Fprintf(os.Stderr, "[WARNING] missing required value: %s\n", warn)
				return "", nil
			}
			if missing {
				return val, errors.New(warn)
			}
			return val, nil
		},
		"fail": func(msg string) (string, error) {
			if lint {
				fmt.Fprintf(os.Stderr, "[INFO] Fail: %s\n", msg)
				return "", nil
			}
			return "", errors.New(msg)
		},
		// helm template has no cluster: lookup finds nothing.
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// toYAML, toJSON and the from* functions are helm's: a value that does not convert gives "" (the
// must* forms return the error), a document that does not parse a map holding it under "Error",
// or a list of it.
func toYAML(v interface{}) string {
	s, _ := mustToYAML(v)
	return s
}

func mustToYAML(v interface{}) (string, error) {
	data, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(data), "\n"), nil
}

func toJSON(v interface{}) string {
	s, _ := mustToJSON(v)
	return s
}

func mustToJSON(v interface{}) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

type unmarshalFunc func(data []byte, into interface{}) error

func unmarshalYAML(data []byte, into interface{}) error { return yaml.Unmarshal(data, into) }

func fromDocument(unmarshal unmarshalFunc) func(string) map[string]interface{} {
	return func(str string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := unmarshal([]byte(str), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
}

func fromDocumentArray(unmarshal unmarshalFunc) func(string) []interface{} {
	return func(str string) []interface{} {
		a := []interface{}{}
		if err := unmarshal([]byte(str), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
}

// cleanupParseError and cleanupExecError shorten Go's errors the way helm's engine does.
func cleanupParseError(filename string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", filename, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

var execPrefix = regexp.MustCompile(`^template: .*?: executing ".*?" at <.*?>: (.*)$`)

func cleanupExecError(filename string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", filename, err)
	}
	innermost := err
	for next := errors.Unwrap(innermost); next != nil; next = errors.Unwrap(innermost) {
		innermost = next
	}
	msg := innermost.Error()
	if m := execPrefix.FindStringSubmatch(msg); m != nil {
		msg = m[1]
	}
	return fmt.Errorf("execution error at (%s): %s", tokens[1], msg)
}
