package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

func printTable(order []string, res map[string]*result) {
	if len(order) == 0 {
		fmt.Println("no target measured")
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprint(w, "metric")
	for _, t := range order {
		fmt.Fprintf(w, "\t%s", t)
	}
	// One ratio column per berthd variant measured beside dockerd.
	var ratios []string
	if res["dockerd"] != nil {
		for _, t := range order {
			if t != "dockerd" {
				ratios = append(ratios, t)
				fmt.Fprintf(w, "\t%s/dockerd", t)
			}
		}
	}
	fmt.Fprintln(w)
	row := func(name string, get func(*result) float64, format func(float64) string) {
		measured := false
		for _, t := range order {
			measured = measured || get(res[t]) != 0
		}
		if !measured { // a section left out with -sections
			return
		}
		fmt.Fprint(w, name)
		for _, t := range order {
			fmt.Fprintf(w, "\t%s", format(get(res[t])))
		}
		for _, t := range ratios {
			if get(res["dockerd"]) != 0 {
				fmt.Fprintf(w, "\t%.2fx", get(res[t])/get(res["dockerd"]))
			} else {
				fmt.Fprint(w, "\t-")
			}
		}
		fmt.Fprintln(w)
	}
	ms := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f ms", v)
	}
	mb := func(v float64) string { return fmt.Sprintf("%.2f MB", v/1024) }
	dur := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	row("run --rm --network none busybox true (median)", func(r *result) float64 { return dur(r.runRm) }, ms)
	row("run --rm busybox true on the bridge (median)", func(r *result) float64 { return dur(r.runRmBridge) }, ms)
	row("run -d --network none busybox sleep 600 (median of 50)", func(r *result) float64 { return dur(r.runD) }, ms)
	row("exec <c> true (median)", func(r *result) float64 { return dur(r.exec) }, ms)
	row("build, 3 RUN + 50 MB COPY, cold (median of 3)", func(r *result) float64 { return dur(r.buildCold) }, ms)
	row("build, fully cached rebuild (median)", func(r *result) float64 { return dur(r.buildCached) }, ms)
	row("build, rebuild after changing the last COPY (median)", func(r *result) float64 { return dur(r.buildChanged) }, ms)
	row("berth compose up -d, 10 services (median of 5)", func(r *result) float64 { return dur(r.compose.berthUp) }, ms)
	row("berth compose down, 10 services (median of 5)", func(r *result) float64 { return dur(r.compose.berthDown) }, ms)
	row("docker-compose v1 up -d, 10 services (median of 5)", func(r *result) float64 { return dur(r.compose.v1Up) }, ms)
	row("docker-compose v1 down, 10 services (median of 5)", func(r *result) float64 { return dur(r.compose.v1Down) }, ms)
	ms2 := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f ms", v)
	}
	row("pull ~200 MB, 4 layers, local registry (median of 3)", func(r *result) float64 { return dur(r.reg.pull) }, ms2)
	row("push ~200 MB, 4 layers, fresh registry (median of 3)", func(r *result) float64 { return dur(r.reg.push) }, ms2)
	row("save ~200 MB (median of 3)", func(r *result) float64 { return dur(r.reg.save) }, ms2)
	row("load ~200 MB (median of 3)", func(r *result) float64 { return dur(r.reg.load) }, ms2)
	row("floor: gunzip + write + syncfs the 4 layers (median of 3)", func(r *result) float64 { return dur(r.reg.floor) }, ms2)
	row(fmt.Sprintf("docker ps -a, %d containers (median of 5)", psContainers), func(r *result) float64 { return dur(r.ps) }, ms)
	row("daemon RSS idle, after start", func(r *result) float64 { return float64(r.idleRSS) }, mb)
	row("engine PSS, 0 containers", func(r *result) float64 { return float64(r.base) }, mb)
	row(fmt.Sprintf("engine PSS per running container (%d running)", memContainers), func(r *result) float64 { return r.memPerCtr }, mb)
}

// printKubeTable prints the Kubernetes figures, berthd beside containerd.
func printKubeTable(order []string, res map[string]*kubeResult, applyRuns, crictlRuns int) {
	if len(order) == 0 {
		fmt.Println("no Kubernetes runtime measured")
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprint(w, "Kubernetes node (kubelet v1.37 on the runtime)")
	for _, t := range order {
		fmt.Fprintf(w, "\t%s", t)
	}
	ratio := res[kubeRTBerthd] != nil && res[kubeRTContainerd] != nil
	if ratio {
		fmt.Fprint(w, "\tberthd/containerd")
	}
	fmt.Fprintln(w)
	row := func(name string, get func(*kubeResult) float64, format func(float64) string) {
		fmt.Fprint(w, name)
		for _, t := range order {
			fmt.Fprintf(w, "\t%s", format(get(res[t])))
		}
		if ratio {
			if c := get(res[kubeRTContainerd]); c != 0 {
				fmt.Fprintf(w, "\t%.2fx", get(res[kubeRTBerthd])/c)
			} else {
				fmt.Fprint(w, "\t-")
			}
		}
		fmt.Fprintln(w)
	}
	dur := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	ms := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f ms", v)
	}
	mb := func(v float64) string { return fmt.Sprintf("%.2f MB", v/1024) }
	row(fmt.Sprintf("kubectl apply, %d-replica Deployment, to all Running (median of %d)", kubeReplicas, applyRuns), func(r *kubeResult) float64 { return dur(r.apply) }, ms)
	row(fmt.Sprintf("crictl runp + create + start, one pod (median of %d)", crictlRuns), func(r *kubeResult) float64 { return dur(r.crictlAll) }, ms)
	row("  crictl runp (median)", func(r *kubeResult) float64 { return dur(r.runp) }, ms)
	row("  crictl create (median)", func(r *kubeResult) float64 { return dur(r.create) }, ms)
	row("  crictl start (median)", func(r *kubeResult) float64 { return dur(r.start) }, ms)
	row("monitor / shim process PSS per pod (berth-monitor / containerd-shim-runc-v2)", func(r *kubeResult) float64 { return r.perPodProcs }, mb)
	row("node runtime PSS per pod (daemon growth + monitors / shims + pause)", func(r *kubeResult) float64 { return r.perPodAll }, mb)
	// Facts about the run, without a ratio.
	fact := func(name string, cell func(*kubeResult) string) {
		fmt.Fprint(w, name)
		for _, t := range order {
			fmt.Fprintf(w, "\t%s", cell(res[t]))
		}
		if ratio {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprintln(w)
	}
	fact("monitor / shim processes per pod", func(r *kubeResult) string { return fmt.Sprintf("%.1f", r.procsPerPod) })
	fact("1-min load average at start / end (2 cores, shared)", func(r *kubeResult) string { return fmt.Sprintf("%.1f / %.1f", r.loadStart, r.loadEnd) })
	failed := false
	for _, t := range order {
		failed = failed || res[t].crictlFailed > 0
	}
	if failed {
		fact("crictl rounds that failed and were run again", func(r *kubeResult) string { return fmt.Sprint(r.crictlFailed) })
	}
}
