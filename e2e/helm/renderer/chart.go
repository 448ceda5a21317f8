package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver"
	"github.com/ghodss/yaml"
)

// Maintainer and Metadata mirror helm's pkg/chart types, so templates see .Chart.Name, .Chart.AppVersion...
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

type Metadata struct {
	Name         string                   `json:"name,omitempty"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Version      string                   `json:"version,omitempty"`
	Description  string                   `json:"description,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Maintainers  []*Maintainer            `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	APIVersion   string                   `json:"apiVersion,omitempty"`
	Condition    string                   `json:"condition,omitempty"`
	Tags         string                   `json:"tags,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
	Type         string                   `json:"type,omitempty"`
}

type chartFile struct {
	name string
	data []byte
}

type chart struct {
	Metadata  *Metadata
	Values    map[string]interface{}
	Schema    []byte
	Templates []chartFile
	CRDs      []chartFile
	Files     Files
}

// loadChart reads a chart directory like helm's pkg/chart/loader: Chart.yaml, values.yaml,
// values.schema.json, templates/ (recursively), every other file into .Files, .helmignore honoured.
func loadChart(dir string) (*chart, error) {
	rules, err := loadHelmignore(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil, err
	}
	ch := &chart{Values: map[string]interface{}{}, Files: Files{}}
	var chartYaml []byte
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if rules.ignore(rel, info.IsDir()) {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "Chart.yaml":
			chartYaml = data
		case rel == "values.yaml":
			if err := yaml.Unmarshal(data, &ch.Values); err != nil {
				return fmt.Errorf("cannot load values.yaml: %w", err)
			}
			if ch.Values == nil {
				ch.Values = map[string]interface{}{}
			}
		case rel == "values.schema.json":
			ch.Schema = data
		case rel == "requirements.yaml" || rel == "requirements.lock" || rel == "Chart.lock":
		case strings.HasPrefix(rel, "charts/"):
			return fmt.Errorf("%s: subcharts (charts/) are not supported by the local helm-template renderer", rel)
		case strings.HasPrefix(rel, "templates/"):
			ch.Templates = append(ch.Templates, chartFile{rel, data})
		default:
			ch.Files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if chartYaml == nil {
		return nil, fmt.Errorf("Chart.yaml file is missing in %s", dir)
	}
	ch.Metadata = &Metadata{}
	if err := yaml.Unmarshal(chartYaml, ch.Metadata); err != nil {
		return nil, fmt.Errorf("cannot load Chart.yaml: %w", err)
	}
	if ch.Metadata.APIVersion == "" {
		return nil, fmt.Errorf("validation: chart.metadata.apiVersion is required")
	}
	if ch.Metadata.Name == "" {
		return nil, fmt.Errorf("validation: chart.metadata.name is required")
	}
	if ch.Metadata.Version == "" {
		return nil, fmt.Errorf("validation: chart.metadata.version is required")
	}
	if _, err := semver.StrictNewVersion(ch.Metadata.Version); err != nil {
		return nil, fmt.Errorf("validation: chart.metadata.version %q is invalid", ch.Metadata.Version)
	}
	if ch.Metadata.Type != "" && ch.Metadata.Type != "application" && ch.Metadata.Type != "library" {
		return nil, fmt.Errorf("validation: chart.metadata.type must be application or library")
	}
	if ch.Metadata.Type == "library" {
		return nil, fmt.Errorf("library charts may not be installed")
	}
	for name, data := range ch.Files {
		if strings.HasPrefix(name, "crds/") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".json")) {
			ch.CRDs = append(ch.CRDs, chartFile{ch.Metadata.Name + "/" + name, data})
		}
	}
	sort.Slice(ch.CRDs, func(i, j int) bool { return ch.CRDs[i].name < ch.CRDs[j].name })
	return ch, nil
}

func checkKubeVersion(constraint string, kv KubeVersion) error {
	if constraint == "" {
		return nil
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return fmt.Errorf("chart kubeVersion %q is invalid: %w", constraint, err)
	}
	v, err := semver.NewVersion(kv.Version)
	if err != nil {
		return err
	}
	if !c.Check(v) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", constraint, kv.Version)
	}
	return nil
}

// helmignore implements the subset of helm's pkg/ignore used in practice: comments, negation,
// trailing "/" for directories, patterns matched against the path and against the base name.
type ignoreRule struct {
	pattern string
	negate  bool
	dirOnly bool
}

type ignoreRules []ignoreRule

func loadHelmignore(file string) (ignoreRules, error) {
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rules ignoreRules
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate = true
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly = true
			line = strings.TrimSuffix(line, "/")
		}
		r.pattern = strings.TrimPrefix(line, "/")
		rules = append(rules, r)
	}
	return rules, nil
}

func (rules ignoreRules) ignore(rel string, isDir bool) bool {
	if rel == "Chart.yaml" {
		return false
	}
	ignored := false
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		target := rel
		if !strings.Contains(r.pattern, "/") {
			target = path.Base(rel)
		}
		if ok, _ := path.Match(r.pattern, target); ok {
			ignored = !r.negate
		}
	}
	return ignored
}

// Files is helm's .Files: the chart's non-template files by their path in the chart.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }

// Glob matches like gobwas/glob with "/" as separator, as helm does: "*" stays in one path
// segment, "**" crosses segments.
func (f Files) Glob(pattern string) Files {
	re, err := globRegexp(pattern)
	nf := Files{}
	if err != nil {
		return nf
	}
	for name, data := range f {
		if re.MatchString(name) {
			nf[name] = data
		}
	}
	return nf
}

func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '{':
			b.WriteString("(?:")
		case '}':
			b.WriteString(")")
		case ',':
			b.WriteString("|")
		case '[':
			end := strings.IndexByte(pattern[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated [ in %q", pattern)
			}
			class := pattern[i+1 : i+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

func (f Files) AsConfig() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m)
}

func (f Files) AsSecrets() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return toYAML(m)
}

func (f Files) Lines(name string) []string {
	data, ok := f[name]
	if !ok || len(data) == 0 {
		return []string{}
	}
	s := string(data)
	if s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return strings.Split(s, "\n")
}
