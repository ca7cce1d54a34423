package main

import (
	"fmt"

	"github.com/berth-project/berth/bench/benchtable"
)

func printTable(order []string, res map[string]*result) {
	if len(order) == 0 {
		fmt.Println("no target measured")
		return
	}
	// One ratio column per berthd variant measured beside dockerd.
	var ratios []benchtable.Ratio
	for _, t := range order {
		if t != "dockerd" {
			ratios = append(ratios, benchtable.Ratio{Num: t, Den: "dockerd"})
		}
	}
	tab := benchtable.New("metric", order, res, ratios...)
	defer tab.Flush()
	tab.SkipUnmeasured = true // a section left out with -sections
	row := tab.Row
	ms, ms0, mb := benchtable.Ms(1), benchtable.Ms(0), benchtable.MB(2)
	dur := benchtable.Millis
	times := func(v float64) string { return fmt.Sprintf("%.2f×", v) }
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
	row(fmt.Sprintf("pull ~200 MB, 4 layers, local registry (median of %d)", pullRuns), func(r *result) float64 { return dur(r.reg.pull) }, ms0)
	row("push ~200 MB, 4 layers, fresh registry (median of 3)", func(r *result) float64 { return dur(r.reg.push) }, ms0)
	row("save ~200 MB (median of 3)", func(r *result) float64 { return dur(r.reg.save) }, ms0)
	row(fmt.Sprintf("load ~200 MB (median of %d)", pullRuns), func(r *result) float64 { return dur(r.reg.load) }, ms0)
	row(fmt.Sprintf("floor: gunzip + write + syncfs the 4 layers, before each pull and load (median of %d)", 2*pullRuns), func(r *result) float64 { return dur(r.reg.floor) }, ms0)
	row("  pull / the floor run just before it (median)", func(r *result) float64 { return r.reg.pullRatio }, times)
	row("  load / the floor run just before it (median)", func(r *result) float64 { return r.reg.loadRatio }, times)
	row("  CPU time per pull: the daemon (median)", func(r *result) float64 { return dur(r.reg.pullCPU) }, ms0)
	row("  CPU time per pull: the registry serving it (median)", func(r *result) float64 { return dur(r.reg.registryCPU) }, ms0)
	row("  CPU time of the floor (median)", func(r *result) float64 { return dur(r.reg.floorCPU) }, ms0)
	row(fmt.Sprintf("docker ps -a, %d containers (median of 5)", psContainers), func(r *result) float64 { return dur(r.ps.docker) }, ms)
	row("  the docker CLI's own CPU time (median)", func(r *result) float64 { return dur(r.ps.dockerCPU) }, ms)
	row("  the same against a replay of the daemon's answer from memory: the CLI alone (median of 5)", func(r *result) float64 { return dur(r.ps.replay) }, ms)
	row("    its CPU time (median)", func(r *result) float64 { return dur(r.ps.replayCPU) }, ms)
	row("  docker ps -a listing none of them: the CLI's fixed cost (median of 5)", func(r *result) float64 { return dur(r.ps.none) }, ms)
	row("    its CPU time (median)", func(r *result) float64 { return dur(r.ps.noneCPU) }, ms)
	row(fmt.Sprintf("berth ps -a, %d containers (median of 5)", psContainers), func(r *result) float64 { return dur(r.ps.berth) }, ms)
	row("  the berth CLI's own CPU time (median)", func(r *result) float64 { return dur(r.ps.berthCPU) }, ms)
	row("GET /containers/json?all=1 alone (median of 5)", func(r *result) float64 { return dur(r.ps.api) }, ms)
	row("  the daemon's CPU time per request (mean of 20)", func(r *result) float64 { return dur(r.ps.daemonCPU) }, ms)
	row("daemon RSS idle, after start", func(r *result) float64 { return float64(r.idleRSS) }, mb)
	row("engine PSS, 0 containers", func(r *result) float64 { return float64(r.base) }, mb)
	row(fmt.Sprintf("engine PSS per running container (%d running)", memContainers), func(r *result) float64 { return r.memPerCtr }, mb)
	tab.Fact("1-min load average at start / end (2 cores, shared)", func(r *result) string { return fmt.Sprintf("%.1f / %.1f", r.loadStart, r.loadEnd) })
}

// printKubeTable prints the Kubernetes figures, berthd beside containerd.
func printKubeTable(order []string, res map[string]*kubeResult, applyRuns, crictlRuns int) {
	if len(order) == 0 {
		fmt.Println("no Kubernetes runtime measured")
		return
	}
	tab := benchtable.New("Kubernetes node (kubelet v1.37 on the runtime)", order, res,
		benchtable.Ratio{Num: kubeRTBerthd, Den: kubeRTContainerd})
	defer tab.Flush()
	row, fact := tab.Row, tab.Fact
	dur := benchtable.Millis
	ms, mb := benchtable.Ms(0), benchtable.MB(2)
	row(fmt.Sprintf("kubectl apply, %d-replica Deployment, to all Running (median of %d)", kubeReplicas, applyRuns), func(r *kubeResult) float64 { return dur(r.apply) }, ms)
	row(fmt.Sprintf("crictl runp + create + start, one pod (median of %d)", crictlRuns), func(r *kubeResult) float64 { return dur(r.crictlAll) }, ms)
	row("  crictl runp (median)", func(r *kubeResult) float64 { return dur(r.runp) }, ms)
	row("  crictl create (median)", func(r *kubeResult) float64 { return dur(r.create) }, ms)
	row("  crictl start (median)", func(r *kubeResult) float64 { return dur(r.start) }, ms)
	row("monitor / shim process PSS per pod (berth-monitor / containerd-shim-runc-v2)", func(r *kubeResult) float64 { return r.perPodProcs }, mb)
	row("node runtime PSS per pod (daemon growth + monitors / shims + pause)", func(r *kubeResult) float64 { return r.perPodAll }, mb)
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
