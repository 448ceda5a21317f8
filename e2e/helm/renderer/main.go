// helm-template renders a Helm v3 chart the way `helm template` does, for machines without helm.
// It is built from Debian's Go packages only (see ../index.mjs) and prints one JSON object,
// {"manifests": ..., "notes": ...}, on stdout; any failure is one message on stderr and exit 1.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var valuesFiles, setValues, apiVersions stringList
	chartDir := flag.String("chart", "", "chart directory")
	releaseName := flag.String("release-name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.20.2", "Kubernetes version for .Capabilities")
	includeCrds := flag.Bool("include-crds", false, "output the crds/ folder first")
	lint := flag.Bool("lint", false, "render as helm lint does: required and fail only warn")
	flag.Var(&valuesFiles, "f", "values file (repeatable, later ones win)")
	flag.Var(&setValues, "set", "key path assignment a.b=c (repeatable)")
	flag.Var(&apiVersions, "api-versions", "extra API version for .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fail(errors.New("--chart is required"))
	}
	out, err := run(options{
		chartDir:    *chartDir,
		releaseName: *releaseName,
		namespace:   *namespace,
		kubeVersion: *kubeVersion,
		includeCrds: *includeCrds,
		lint:        *lint,
		valuesFiles: valuesFiles,
		set:         setValues,
		apiVersions: apiVersions,
	})
	if err != nil {
		fail(err)
	}
	data, err := json.Marshal(out)
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(data)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "Error: "+err.Error())
	os.Exit(1)
}

type options struct {
	chartDir, releaseName, namespace, kubeVersion string
	includeCrds, lint                             bool
	valuesFiles, set, apiVersions                 []string
}

type output struct {
	Manifests string `json:"manifests"`
	Notes     string `json:"notes"`
}

func run(o options) (*output, error) {
	ch, err := loadChart(o.chartDir)
	if err != nil {
		return nil, err
	}
	caps, err := newCapabilities(o.kubeVersion, o.apiVersions)
	if err != nil {
		return nil, err
	}
	if err := checkKubeVersion(ch.Metadata.KubeVersion, caps.KubeVersion); err != nil {
		return nil, err
	}
	user := map[string]interface{}{}
	for _, file := range o.valuesFiles {
		vals, err := readValuesFile(file)
		if err != nil {
			return nil, err
		}
		user = mergeMaps(user, vals)
	}
	for _, assignment := range o.set {
		if err := parseSet(assignment, user); err != nil {
			return nil, fmt.Errorf("failed parsing --set data: %w", err)
		}
	}
	values := coalesceValues(ch.Values, user)
	if ch.Schema != nil {
		if err := validateAgainstSchema(ch.Metadata.Name, values, ch.Schema); err != nil {
			return nil, err
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name":      o.releaseName,
			"Namespace": o.namespace,
			"IsInstall": true,
			"IsUpgrade": false,
			"Revision":  1,
			"Service":   "Helm",
		},
		"Chart":        ch.Metadata,
		"Capabilities": caps,
		"Files":        ch.Files,
	}
	rendered, err := render(ch, top, o.lint)
	if err != nil {
		return nil, err
	}
	notesName := ch.Metadata.Name + "/templates/NOTES.txt"
	notes := rendered[notesName]
	delete(rendered, notesName)
	manifests, err := sortManifests(rendered)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if o.includeCrds {
		for _, crd := range ch.CRDs {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.name, string(crd.data))
		}
	}
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.name, m.content)
	}
	return &output{Manifests: b.String(), Notes: notes}, nil
}
