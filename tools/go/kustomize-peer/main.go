// kustomize-peer renders kustomization directories with the Kustomize Go library in one process, the
// way Flux's kustomize-controller builds (krusty.MakeKustomizer + filesys.MakeFsOnDisk, a new
// Kustomizer per build), for bench/bench_kustomize.py and as a conformance oracle.
//
//	kustomize-peer render DIR                 print DIR's output YAML (what `kubectl kustomize DIR` prints)
//	kustomize-peer bench [-warmup] OUTDIR DIR...
//	                                          render each DIR in this process, write OUTDIR/<i>.yaml,
//	                                          print {"renders":N,"seconds":S,"first_seconds":F,"min_seconds":M}
//	                                          (JSON: the total, the first DIR's and the fastest render)
//
// Options: krusty.MakeDefaultOptions() (load restrictions RootOnly, plugins disabled, no managed-by
// label) with Reorder set to "unspecified", which is what `kubectl kustomize` passes without flags
// (the legacy order: Namespaces first, ...); MakeDefaultOptions' own "none" keeps the input order.
// -warmup renders the first DIR once before the clock starts (the one-time costs of a process: the
// OpenAPI schema kyaml parses on first use, the Go runtime's heap growth), as a long-running
// controller has paid them already. The seconds count the build and the YAML serialisation of each
// DIR (Kustomizer.Run + ResMap.AsYaml), not writing the files.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func build(fs filesys.FileSystem, dir string) ([]byte, error) {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified
	m, err := krusty.MakeKustomizer(opts).Run(fs, dir)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kustomize-peer render DIR | kustomize-peer bench [-warmup] OUTDIR DIR...")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	fs := filesys.MakeFsOnDisk()
	switch os.Args[1] {
	case "render":
		out, err := build(fs, os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Stdout.Write(out)
	case "bench":
		args := os.Args[2:]
		warmup := false
		if args[0] == "-warmup" {
			warmup, args = true, args[1:]
		}
		if len(args) < 2 {
			usage()
		}
		outdir, dirs := args[0], args[1:]
		if warmup {
			if _, err := build(fs, dirs[0]); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		outputs := make([][]byte, len(dirs))
		var total, first, fastest time.Duration
		for i, dir := range dirs {
			started := time.Now()
			out, err := build(fs, dir)
			took := time.Since(started)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", dir, err)
				os.Exit(1)
			}
			if i == 0 {
				first = took
			}
			if i == 0 || took < fastest {
				fastest = took
			}
			total += took
			outputs[i] = out
		}
		for i, out := range outputs {
			if err := os.WriteFile(filepath.Join(outdir, strconv.Itoa(i)+".yaml"), out, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"renders": len(dirs), "seconds": total.Seconds(), "first_seconds": first.Seconds(),
			"min_seconds": fastest.Seconds()})
	default:
		usage()
	}
}
