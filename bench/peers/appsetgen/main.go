// Command appsetgen is the peer of bench/appset_generate.py: it generates the applications of an
// ApplicationSet the way Argo CD's ApplicationSet controller does with goTemplate, re-implemented
// minimally (not Argo CD itself): a matrix of a clusters generator (label selector) and a git
// directories generator (include and exclude globs), each combination rendered with Go's
// text/template (missingkey=error, a dns_label function) into one YAML document, decoded strictly
// into an Application struct with sigs.k8s.io/yaml, then checked (the name a DNS-1123 label, the
// repository and cluster defined, names unique).
//
// Usage: appsetgen INPUT.json   (written by the bench). Prints JSON: cold and best seconds, names.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

type Cluster struct {
	Name        string            `json:"name"`
	Server      string            `json:"server"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type Input struct {
	Clusters []Cluster `json:"clusters"`
	Selector struct {
		Key    string   `json:"key"`
		Values []string `json:"values"`
	} `json:"selector"`
	Files        []string `json:"files"`
	Include      string   `json:"include"`
	Exclude      string   `json:"exclude"`
	Repositories []string `json:"repositories"`
	Template     string   `json:"template"`
	Rounds       int      `json:"rounds"`
}

type Application struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Source struct {
			Repository string            `json:"repository"`
			Path       string            `json:"path"`
			Revision   string            `json:"revision,omitempty"`
			Renderer   string            `json:"renderer,omitempty"`
			Parameters map[string]string `json:"parameters,omitempty"`
		} `json:"source"`
		Destination struct {
			Cluster   string `json:"cluster"`
			Namespace string `json:"namespace,omitempty"`
		} `json:"destination"`
		SyncPolicy struct {
			Automated bool `json:"automated"`
			Prune     bool `json:"prune"`
			SelfHeal  bool `json:"selfHeal"`
		} `json:"syncPolicy"`
	} `json:"spec"`
}

var (
	nonLabel = regexp.MustCompile(`[^a-z0-9]+`)
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// dnsLabelOf is the bench template's dns_label: lowercase, runs of other characters as one '-', at most 63.
func dnsLabelOf(value string) string {
	text := strings.Trim(nonLabel.ReplaceAllString(strings.ToLower(value), "-"), "-")
	if len(text) > 63 {
		text = text[:63]
	}
	return strings.TrimRight(text, "-")
}

func clusters(in *Input) []map[string]any {
	allowed := map[string]bool{}
	for _, v := range in.Selector.Values {
		allowed[v] = true
	}
	sorted := append([]Cluster(nil), in.Clusters...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var out []map[string]any
	for _, c := range sorted {
		if !allowed[c.Labels[in.Selector.Key]] {
			continue
		}
		out = append(out, map[string]any{
			"name": c.Name, "nameNormalized": dnsLabelOf(c.Name), "server": c.Server,
			"metadata": map[string]any{"labels": c.Labels, "annotations": c.Annotations},
		})
	}
	return out
}

func directories(in *Input) []map[string]any {
	seen := map[string]bool{}
	for _, f := range in.Files {
		for dir := path.Dir(f); dir != "." && !seen[dir]; dir = path.Dir(dir) {
			seen[dir] = true
		}
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var out []map[string]any
	for _, d := range dirs {
		in1, _ := path.Match(in.Include, d)
		out1, _ := path.Match(in.Exclude, d)
		if !in1 || out1 {
			continue
		}
		out = append(out, map[string]any{"path": map[string]any{
			"path": d, "basename": path.Base(d), "basenameNormalized": dnsLabelOf(path.Base(d)),
			"segments": strings.Split(d, "/"),
		}})
	}
	return out
}

func run(in *Input) ([]string, error) {
	// Parsed once per run (Argo CD parses each string again per element: this peer is the faster one).
	tmpl, err := template.New("app").Option("missingkey=error").
		Funcs(template.FuncMap{"dns_label": dnsLabelOf}).Parse(in.Template)
	if err != nil {
		return nil, err
	}
	repos := map[string]bool{}
	for _, r := range in.Repositories {
		repos[r] = true
	}
	known := map[string]bool{}
	for _, c := range in.Clusters {
		known[c.Name] = true
	}
	left, right := clusters(in), directories(in)
	var apps []Application
	var buf bytes.Buffer
	for _, l := range left {
		for _, r := range right {
			params := make(map[string]any, len(l)+len(r))
			for k, v := range l {
				params[k] = v
			}
			for k, v := range r {
				params[k] = v
			}
			buf.Reset()
			if err := tmpl.Execute(&buf, params); err != nil {
				return nil, err
			}
			var app Application
			if err := yaml.UnmarshalStrict(buf.Bytes(), &app); err != nil {
				return nil, err
			}
			if !dnsLabel.MatchString(app.Metadata.Name) {
				return nil, fmt.Errorf("invalid name %q", app.Metadata.Name)
			}
			if !repos[app.Spec.Source.Repository] || !known[app.Spec.Destination.Cluster] {
				return nil, fmt.Errorf("%s: undefined repository or cluster", app.Metadata.Name)
			}
			apps = append(apps, app)
		}
	}
	names := make([]string, len(apps))
	count := map[string]int{}
	for i, a := range apps {
		names[i] = a.Metadata.Name
		count[a.Metadata.Name]++
	}
	for name, n := range count {
		if n > 1 {
			return nil, fmt.Errorf("name %q generated %d times", name, n)
		}
	}
	return names, nil
}

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var in Input
	if err := json.Unmarshal(data, &in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var names []string
	cold, best := 0.0, 0.0
	for i := 0; i <= in.Rounds; i++ {
		t0 := time.Now()
		names, err = run(&in)
		elapsed := time.Since(t0).Seconds()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if i == 0 {
			cold = elapsed
		} else if i == 1 || elapsed < best {
			best = elapsed
		}
	}
	out, _ := json.Marshal(map[string]any{"cold": cold, "best": best, "names": names})
	fmt.Println(string(out))
}
