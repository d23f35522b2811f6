// flux-ssa-peer applies the objects of a YAML file with Flux's server-side apply library
// (github.com/fluxcd/pkg/ssa), configured as Flux's kustomize-controller configures it, and counts the
// HTTP requests it makes: the peer of bench/flux_ssa_peer.py.
//
//	flux-ssa-peer -kubeconfig FILE -namespace NS -file OBJECTS.yaml [-concurrency 4] [-qps Q -burst B] [-pause]
//
// Phases, each timed and counted separately, each printed as one JSON line on stdout
// ({"phase":"first","seconds":...,"requests":...,"by":{...},"actions":{...}}); with -pause the program
// reads a line from stdin before each phase after the first sync (so the caller can let the cluster
// settle, e.g. the Deployments' rollouts, as it does for the engine it compares with):
//
//	connect  the REST mappings of the objects' kinds (discovery), which a long-running controller
//	         has cached already; kept out of the sync figures
//	first    ApplyAllStaged of every object (they do not exist yet): per object a GET, a server-side
//	         apply dry-run, and the apply of what changed
//	noop     ApplyAllStaged of the same objects again (nothing changed: GETs and dry-runs only)
//	diff     ResourceManager.Diff of every object (what `flux diff kustomization` does per object)
//
// As kustomize-controller (v1.x, internal/controller/kustomization_controller.go): field manager
// "kustomize-controller", owner group kustomize.toolkit.fluxcd.io with its owner labels set on the
// objects, SetConcurrency(4) (its --concurrent-ssa default), DefaultApplyOptions with its exclusion,
// if-not-present and force selectors and its metadata clean-up options, and a controller-runtime client
// without a cache (the manager's client does not cache unstructured objects). Not done here: the
// Kustomization's own status patches, inventory, pruning and health checks.
//
// Requests are counted by a RoundTripper wrapped around the client's transport, so every HTTP
// request is counted once (client-go retries included), by method, with server-side dry-runs apart.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/normalize"
	ssautil "github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

const (
	group      = "kustomize.toolkit.fluxcd.io"
	controller = "kustomize-controller"
)

// counts is the number of HTTP requests by kind ("GET", "PATCH", "PATCH dry-run", ...).
type counts struct {
	mu sync.Mutex
	by map[string]int
}

func (c *counts) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.by
	c.by = map[string]int{}
	return out
}

type countingTransport struct {
	next http.RoundTripper
	c    *counts
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.Method
	if r.URL.Query().Get("dryRun") != "" {
		key += " dry-run"
	}
	t.c.mu.Lock()
	t.c.by[key]++
	t.c.mu.Unlock()
	return t.next.RoundTrip(r)
}

type phase struct {
	Phase    string         `json:"phase"`
	Seconds  float64        `json:"seconds"`
	CPU      float64        `json:"cpu_seconds"` // user + system CPU of this process during the phase
	Requests int            `json:"requests"`
	By       map[string]int `json:"by"`
	Actions  map[string]int `json:"actions,omitempty"`
}

func measure(name string, c *counts, fn func() (map[string]int, error)) (phase, error) {
	c.reset()
	cpu0 := cpuSeconds()
	started := time.Now()
	actions, err := fn()
	took := time.Since(started)
	cpu := cpuSeconds() - cpu0
	by := c.reset()
	total := 0
	for _, n := range by {
		total += n
	}
	return phase{Phase: name, Seconds: took.Seconds(), CPU: cpu, Requests: total, By: by, Actions: actions}, err
}

func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "flux-ssa-peer: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	namespace := flag.String("namespace", "", "namespace of objects without one (must exist)")
	file := flag.String("file", "", "YAML file of the objects")
	concurrency := flag.Int("concurrency", 4, "ResourceManager.SetConcurrency (kustomize-controller --concurrent-ssa, default 4)")
	qps := flag.Float64("qps", 10000, "client-side rate limit (kustomize-controller --kube-api-qps default: 50)")
	burst := flag.Int("burst", 10000, "client-side burst (kustomize-controller --kube-api-burst default: 300)")
	pause := flag.Bool("pause", false, "read a line from stdin before the no-op and the diff phases")
	flag.Parse()
	if *kubeconfig == "" || *namespace == "" || *file == "" {
		flag.Usage()
		os.Exit(2)
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	c := &counts{by: map[string]int{}}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, c: c} })
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		fail("http client: %v", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		fail("rest mapper: %v", err)
	}
	kube, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		fail("client: %v", err)
	}
	poller := polling.NewStatusPoller(kube, mapper, polling.Options{})

	f, err := os.Open(*file)
	if err != nil {
		fail("%v", err)
	}
	desired, err := ssautil.ReadObjects(f)
	f.Close()
	if err != nil {
		fail("%s: %v", *file, err)
	}
	for _, o := range desired {
		if o.GetNamespace() == "" {
			o.SetNamespace(*namespace)
		}
	}
	// a fresh copy per phase, as each reconcile builds its objects again
	objects := func() []*unstructured.Unstructured {
		out := make([]*unstructured.Unstructured, len(desired))
		for i, o := range desired {
			out[i] = o.DeepCopy()
		}
		if err := normalize.UnstructuredList(out); err != nil {
			fail("normalize: %v", err)
		}
		return out
	}

	manager := ssa.NewResourceManager(kube, poller, ssa.Owner{Field: controller, Group: group})
	manager.SetConcurrency(*concurrency)
	opts := ssa.DefaultApplyOptions()
	opts.ExclusionSelector = map[string]string{group + "/reconcile": "disabled", group + "/ssa": "Ignore"}
	opts.IfNotPresentSelector = map[string]string{group + "/ssa": "IfNotPresent"}
	opts.ForceSelector = map[string]string{group + "/force": "enabled"}
	opts.Cleanup = ssa.ApplyCleanupOptions{
		Annotations: []string{corev1.LastAppliedConfigAnnotation, group + "/checksum", "fluxcd.io/sync-checksum"},
		Labels:      []string{"fluxcd.io/sync-gc-mark"},
		FieldManagers: []ssa.FieldManager{
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: controller, OperationType: metav1.ManagedFieldsOperationUpdate},
		},
		Exclusions: map[string]string{group + "/ssa": "Merge"},
	}
	ctx := context.Background()

	apply := func() (map[string]int, error) {
		objs := objects()
		manager.SetOwnerLabels(objs, "bench", *namespace)
		cs, err := manager.ApplyAllStaged(ctx, objs, opts)
		if err != nil {
			return nil, err
		}
		actions := map[string]int{}
		for _, e := range cs.Entries {
			actions[strings.ToLower(string(e.Action))]++
		}
		return actions, nil
	}

	out := json.NewEncoder(os.Stdout)
	stdin := bufio.NewReader(os.Stdin)
	run := func(name string, fn func() (map[string]int, error)) {
		if *pause && name != "connect" && name != "first" {
			if _, err := stdin.ReadString('\n'); err != nil {
				fail("waiting on stdin before %s: %v", name, err)
			}
		}
		p, err := measure(name, c, fn)
		if err != nil {
			fail("%s: %v", name, err)
		}
		if err := out.Encode(p); err != nil {
			fail("%v", err)
		}
	}
	run("connect", func() (map[string]int, error) {
		for _, o := range desired {
			gvk := o.GroupVersionKind()
			if _, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	run("first", apply)
	run("noop", apply)
	run("diff", func() (map[string]int, error) {
		objs := objects()
		manager.SetOwnerLabels(objs, "bench", *namespace)
		actions := map[string]int{}
		for _, o := range objs {
			entry, _, _, err := manager.Diff(ctx, o, ssa.DefaultDiffOptions())
			if err != nil {
				return nil, err
			}
			actions[strings.ToLower(string(entry.Action))]++
		}
		return actions, nil
	})
}
