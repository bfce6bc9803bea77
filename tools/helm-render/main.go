// helm-render renders a Helm v3 chart the way `helm template` does, with Helm's own template
// libraries (Go's text/template and sprig v3, from Debian), for the features stocha's chart
// uses. docs/DEPLOY.md ("How the chart is tested") lists what differs from `helm template`.
//
//	helm-render [-f values.yaml]... [--name R] [--namespace N] [--kube-version v1.29.0]
//	            [-a group/version]... [--values-json | --notes] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// chartMeta is the part of Helm's chart.Metadata (.Chart) that charts read.
type chartMeta struct {
	APIVersion  string            `json:"apiVersion"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion,omitempty"`
	KubeVersion string            `json:"kubeVersion,omitempty"`
	Description string            `json:"description,omitempty"`
	Type        string            `json:"type,omitempty"`
	Home        string            `json:"home,omitempty"`
	Keywords    []string          `json:"keywords,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// versionSet mirrors chartutil.VersionSet: .Capabilities.APIVersions.Has "apps/v1".
type versionSet []string

func (v versionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// The built-in API versions of a v1.24+ cluster that the chart may test for; -a adds more
// (as `helm template -a`), e.g. monitoring.coreos.com/v1.
var builtinAPIVersions = []string{
	"v1", "apps/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
	"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "batch/v1",
}

// installOrder is Helm 3's releaseutil.InstallOrder: `helm template` prints in this order.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

func main() {
	var valueFiles, apiVersions listFlag
	flag.Var(&valueFiles, "f", "values file, repeatable; later files win (helm -f)")
	flag.Var(&apiVersions, "a", "extra API version for .Capabilities.APIVersions (helm -a)")
	name := flag.String("name", "stocha", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.29.0", "Kubernetes version (helm --kube-version)")
	valuesJSON := flag.Bool("values-json", false, "print the merged values as JSON, render nothing")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [flags] CHART_DIR")
		os.Exit(2)
	}
	out, err := run(flag.Arg(0), valueFiles, *name, *namespace, *kubeVersion, apiVersions,
		*valuesJSON, *notes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}

func run(chartDir string, valueFiles []string, name, namespace, kubeVersion string,
	apiVersions []string, valuesJSON, notes bool) (string, error) {
	var meta chartMeta
	if err := readYAML(filepath.Join(chartDir, "Chart.yaml"), &meta); err != nil {
		return "", err
	}
	if meta.APIVersion != "v2" {
		return "", fmt.Errorf("Chart.yaml: apiVersion %q, this renderer reads v2 charts", meta.APIVersion)
	}
	kv, err := semver.NewVersion(kubeVersion)
	if err != nil {
		return "", fmt.Errorf("--kube-version: %w", err)
	}
	if meta.KubeVersion != "" {
		c, err := semver.NewConstraint(meta.KubeVersion)
		if err != nil {
			return "", fmt.Errorf("Chart.yaml kubeVersion: %w", err)
		}
		if !c.Check(kv) {
			return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes v%s",
				meta.KubeVersion, kv)
		}
	}
	values := map[string]interface{}{}
	if err := readYAML(filepath.Join(chartDir, "values.yaml"), &values); err != nil {
		return "", err
	}
	for _, f := range valueFiles {
		user := map[string]interface{}{}
		if err := readYAML(f, &user); err != nil {
			return "", err
		}
		values = coalesce(values, user)
	}
	if valuesJSON {
		b, err := json.MarshalIndent(values, "", "  ")
		return string(b) + "\n", err
	}
	metaMap := map[string]interface{}{}
	b, _ := json.Marshal(meta)
	_ = json.Unmarshal(b, &metaMap)
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chartObject(meta),
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v" + kv.String(), "GitVersion": "v" + kv.String(),
				"Major": fmt.Sprint(kv.Major()), "Minor": fmt.Sprint(kv.Minor()),
			},
			"APIVersions": append(versionSet(builtinAPIVersions), apiVersions...),
		},
	}
	chartFiles, err := loadFiles(chartDir)
	if err != nil {
		return "", err
	}
	top["Files"] = chartFiles
	files, err := renderChart(chartDir, meta.Name, top)
	if err != nil {
		return "", err
	}
	if notes {
		return files[meta.Name+"/templates/NOTES.txt"], nil
	}
	return printManifests(files)
}

// chartFilesT is .Files: the chart's files outside templates/ and its metadata, read as
// Helm's loader reads a chart directory (a symlinked file is read through its link).
type chartFilesT map[string][]byte

// Get returns a file's contents, or "" if the chart has no such file (as Helm's Files.Get).
func (f chartFilesT) Get(name string) string { return string(f[name]) }

func loadFiles(chartDir string) (chartFilesT, error) {
	skip := map[string]bool{"Chart.yaml": true, "values.yaml": true, "values.schema.json": true,
		"Chart.lock": true, "requirements.yaml": true, "requirements.lock": true}
	out := chartFilesT{}
	err := filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if info.IsDir() {
			if rel == "templates" || rel == "charts" {
				return filepath.SkipDir
			}
			return nil
		}
		if skip[rel] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = b
		return nil
	})
	return out, err
}

// chartObject is .Chart with Helm's field names (.Chart.Name, .Chart.AppVersion, ...).
func chartObject(m chartMeta) map[string]interface{} {
	return map[string]interface{}{
		"APIVersion": m.APIVersion, "Name": m.Name, "Version": m.Version,
		"AppVersion": m.AppVersion, "KubeVersion": m.KubeVersion, "Description": m.Description,
		"Type": m.Type, "Home": m.Home, "Keywords": m.Keywords, "Annotations": m.Annotations,
	}
}

// readYAML parses like Helm (sigs.k8s.io/yaml: YAML -> JSON -> Go, so numbers are float64).
func readYAML(file string, into interface{}) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// coalesce merges user values over the chart's defaults as Helm's chartutil.CoalesceTables
// does: maps merge key by key, anything else replaces, and a null deletes the default.
func coalesce(defaults, user map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range user {
		if v == nil {
			delete(out, k)
			continue
		}
		dm, dIsMap := out[k].(map[string]interface{})
		um, uIsMap := v.(map[string]interface{})
		if dIsMap && uIsMap {
			out[k] = coalesce(dm, um)
		} else {
			out[k] = v
		}
	}
	return out
}

// renderChart parses every file under templates/ into one template set named
// "<chart>/templates/<file>" (as Helm's engine does) and executes the non-partial ones.
func renderChart(chartDir, chartName string, top map[string]interface{}) (map[string]string, error) {
	root := template.New("gotpl").Option("missingkey=zero")
	root.Funcs(funcMap(root))
	var names []string
	dir := filepath.Join(chartDir, "templates")
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		tname := path.Join(chartName, "templates", filepath.ToSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := root.New(tname).Parse(string(b)); err != nil {
			return err
		}
		names = append(names, tname)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{
			"Name": n, "BasePath": path.Join(chartName, "templates"),
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, n, vals); err != nil {
			return nil, err
		}
		// Helm's engine turns missing values into empty text, not "<no value>".
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

// funcMap is sprig's TxtFuncMap without env/expandenv (Helm removes them) plus Helm's own
// functions, implemented as in helm.sh/helm/v3/pkg/engine/funcs.go.
func funcMap(root *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toYaml": func(v interface{}) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				return ""
			}
			return strings.TrimSuffix(string(b), "\n")
		},
		"fromYaml": func(s string) map[string]interface{} {
			m := map[string]interface{}{}
			if err := yaml.Unmarshal([]byte(s), &m); err != nil {
				m["Error"] = err.Error()
			}
			return m
		},
		"toJson": func(v interface{}) string {
			b, err := json.Marshal(v)
			if err != nil {
				return ""
			}
			return string(b)
		},
		"fromJson": func(s string) map[string]interface{} {
			m := map[string]interface{}{}
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				m["Error"] = err.Error()
			}
			return m
		},
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warn)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warn)
			}
			return val, nil
		},
		// Without a cluster `helm template` answers every lookup with an empty map.
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include": func(name string, data interface{}) (string, error) {
			var buf bytes.Buffer
			err := root.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, data interface{}) (string, error) {
			t, err := root.Clone()
			if err != nil {
				return "", err
			}
			t, err = t.New("tpl").Parse(text)
			if err != nil {
				return "", err
			}
			var buf bytes.Buffer
			if err := t.Execute(&buf, data); err != nil {
				return "", err
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

var docSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

type manifest struct {
	source string
	kind   string
	order  int
	text   string
}

// printManifests splits each rendered file into its YAML documents (Helm's SplitManifests),
// checks that each parses, sorts them in Helm's install order and prints them as
// `helm template` does: "---\n# Source: <template>\n<document>\n".
func printManifests(files map[string]string) (string, error) {
	var all []manifest
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if path.Base(n) == "NOTES.txt" {
			continue
		}
		for _, doc := range docSeparator.Split(files[n], -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return "", fmt.Errorf("YAML parse error on %s: %w", n, err)
			}
			all = append(all, manifest{source: n, kind: head.Kind, order: kindOrder(head.Kind),
				text: strings.TrimSpace(doc)})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].order != all[j].order {
			return all[i].order < all[j].order
		}
		if all[i].order == len(installOrder) { // unknown kinds: by kind name
			return all[i].kind < all[j].kind
		}
		return false
	})
	var sb strings.Builder
	for _, m := range all {
		fmt.Fprintf(&sb, "---\n# Source: %s\n%s\n", m.source, m.text)
	}
	return sb.String(), nil
}

func kindOrder(kind string) int {
	for i, k := range installOrder {
		if k == kind {
			return i
		}
	}
	return len(installOrder)
}
