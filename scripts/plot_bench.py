#!/usr/bin/env python3
"""Draw amxmm's benchmark results and print the key ratios.

Usage:
    python3 scripts/plot_bench.py out.png a.json [b.json ...] [--shape K2048_N4096] [--isa amx]
                                  [--hline 2.2e12:"label"]

Inputs are Google Benchmark JSON files (--benchmark_out=x.json --benchmark_out_format=json) from
amxmm_bench_limits, amxmm_bench_gemm and amxmm_bench_onednn, in any combination.

The PNG has two panels:
  left   throughput (FLOP/s-equivalent, 2*M*N*K per second) vs M, log-log: amxmm per mode/back end/shape
         (hot solid, cold dashed), oneDNN bf16/u8s8 (black/grey), horizontal lines for the AMX int8 and
         bf16 register-only peaks, the AVX-512 VNNI peak, the best oneDNN numbers and any --hline;
  right  bytes/s (packed weight + activations read) vs M for cold runs, with the DRAM read probe.
A markdown report (probes, large-M ratios to oneDNN, decode ratios) goes to stdout for bench/RESULTS.md.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
from collections import defaultdict

AMXMM_RE = re.compile(
    r"^(?P<src>gemm|amxmm)/(?P<mode>exact|fast)/(?P<isa>[a-z0-9_]+)/K(?P<K>\d+)_N(?P<N>\d+)/M(?P<M>\d+)/(?P<temp>hot|cold)")
ONEDNN_RE = re.compile(r"^onednn/(?P<dtype>bf16|u8s8)/K(?P<K>\d+)_N(?P<N>\d+)/M(?P<M>\d+)")
MOE_RE = re.compile(
    r"^(?P<op>moe_ffn|moe_gemm)/(?P<layer>[a-z0-9_]+)/(?P<routing>uniform|zipf)/(?P<mode>auto|exact|fast)/"
    r"(?P<isa>[a-z0-9_]+)/M(?P<M>\d+)/(?P<temp>hot|cold)")
LIMITS_RE = re.compile(r"^limits/(?P<what>[a-z0-9_]+)(?:/threads:(?P<T>\d+))?(?:/streams:(?P<S>\d+))?")

# The best existing Q4_0 AMX kernel on the device (DESIGN.md §5), the yardstick of issue 3's targets.
EXISTING_Q4_0_AMX_OPS = 2.2e12


def median(values):
    return statistics.median(values) if values else None


class Results:
    """Everything read from the JSON files, keyed by what the benchmark measured."""

    def __init__(self):
        self.amxmm = defaultdict(list)    # (src, mode, isa, K, N, M, temp) -> [run dict]
        self.onednn = defaultdict(list)   # (dtype, K, N, M) -> [run dict]
        self.limits = defaultdict(list)   # (what, threads, streams) -> [run dict]
        self.moe = defaultdict(list)      # (op, layer, routing, mode, isa, M, temp) -> [run dict] (amxmm_bench_moe)
        self.context = {}                 # merged context (first file wins per key)
        self.contexts = []
        self.probes = defaultdict(list)   # probe name -> [value] from contexts and limits runs

    def load(self, path):
        with open(path) as f:
            data = json.load(f)
        ctx = data.get("context", {})
        self.contexts.append((path, ctx))
        for k, v in ctx.items():
            self.context.setdefault(k, v)
        for key, probe in (("amxmm_probe_amx_int8_ops", "amx_int8"), ("amxmm_probe_amx_bf16_flops", "amx_bf16"),
                           ("amxmm_probe_avx512_vnni_ops", "vnni"),
                           ("amxmm_probe_dram_read_bytes_per_second", "dram"),
                           ("amxmm_probe_dram_read_1thread_bytes_per_second", "dram_1t")):
            if key in ctx:
                self.probes[probe].append(float(ctx[key]))
        threads = int(ctx.get("amxmm_threads", "0") or 0)
        for b in data.get("benchmarks", []):
            if b.get("error_occurred") or b.get("run_type", "iteration") != "iteration":
                continue
            name = b.get("run_name") or b["name"]
            m = AMXMM_RE.match(name)
            if m:
                key = (m["src"], m["mode"], m["isa"], int(m["K"]), int(m["N"]), int(m["M"]), m["temp"])
                self.amxmm[key].append(b)
                continue
            m = MOE_RE.match(name)
            if m:
                self.moe[(m["op"], m["layer"], m["routing"], m["mode"], m["isa"], int(m["M"]), m["temp"])].append(b)
                continue
            m = ONEDNN_RE.match(name)
            if m:
                self.onednn[(m["dtype"], int(m["K"]), int(m["N"]), int(m["M"]))].append(b)
                continue
            m = LIMITS_RE.match(name)
            if m:
                t = int(m["T"]) if m["T"] else 0
                self.limits[(m["what"], t, int(m["S"]) if m["S"] else 0)].append(b)
                all_threads = threads == 0 or t == threads
                if m["what"] in ("amx_int8_peak", "amx_bf16_peak", "avx512_vnni_peak") and all_threads and "flops" in b:
                    self.probes[{"amx_int8_peak": "amx_int8", "amx_bf16_peak": "amx_bf16",
                                 "avx512_vnni_peak": "vnni"}[m["what"]]].append(float(b["flops"]))
                if m["what"] == "dram_read" and "bytes_per_second" in b:
                    self.probes["dram" if all_threads and t != 1 else "dram_1t"].append(float(b["bytes_per_second"]))

    def probe(self, name):
        """Best value seen for a probe (probes measure a limit, so the highest is the closest)."""
        v = self.probes.get(name)
        return max(v) if v else None

    def value(self, runs, counter):
        return median([float(r[counter]) for r in runs if counter in r])

    def seconds(self, runs):
        """Seconds per call (real time)."""
        vals = []
        for r in runs:
            unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[r.get("time_unit", "ns")]
            vals.append(float(r["real_time"]) * unit)
        return median(vals)

    def amxmm_run(self, mode, isa, K, N, M, temp, prefer="gemm"):
        """Runs for one amxmm case, preferring one source (gemm = the GEMM suite, amxmm = the peer run)."""
        other = "amxmm" if prefer == "gemm" else "gemm"
        for src in (prefer, other):
            runs = self.amxmm.get((src, mode, isa, K, N, M, temp))
            if runs:
                return src, runs
        return None, None


def fmt_rate(v, unit):
    if v is None:
        return "–"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(v) >= scale:
            return f"{v / scale:.2f} {prefix}{unit}"
    return f"{v:.3g} {unit}"


def fmt(v, spec=".2f", suffix=""):
    return "–" if v is None else f"{v:{spec}}{suffix}"


# ---- plot ------------------------------------------------------------------------------------------------

def plot(res, out_png, shape_filter, hlines):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    shapes = sorted({(k[3], k[4]) for k in res.amxmm} | {(k[1], k[2]) for k in res.onednn})
    if shape_filter:
        shapes = [s for s in shapes if f"K{s[0]}_N{s[1]}" in shape_filter]
    markers = dict(zip(shapes, ["o", "s", "^", "D", "v", "P", "X", "*"]))
    series_keys = sorted({(k[1], k[2]) for k in res.amxmm})
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
               "tab:cyan"]
    colors = {sk: palette[i % len(palette)] for i, sk in enumerate(series_keys)}

    fig, (ax_t, ax_b) = plt.subplots(1, 2, figsize=(17, 7.5))
    legend_handles = []

    # Left: throughput vs M.
    for (mode, isa) in series_keys:
        for shape in shapes:
            for temp, style in (("hot", "-"), ("cold", "--")):
                pts = []
                for M in sorted({k[5] for k in res.amxmm if k[1:5] == (mode, isa) + shape and k[6] == temp}):
                    _, runs = res.amxmm_run(mode, isa, shape[0], shape[1], M, temp)
                    if runs:
                        pts.append((M, res.value(runs, "flops")))
                pts = [p for p in pts if p[1]]
                if pts:
                    ax_t.plot(*zip(*pts), style, color=colors[(mode, isa)], marker=markers[shape], ms=5, lw=1.3,
                              alpha=0.9 if temp == "hot" else 0.6)
    onednn_best = {}
    for dtype, color, style in (("bf16", "black", "-"), ("u8s8", "dimgray", ":")):
        for shape in shapes:
            pts = sorted((M, res.value(runs, "flops")) for (d, K, N, M), runs in res.onednn.items()
                         if d == dtype and (K, N) == shape)
            pts = [p for p in pts if p[1]]
            if pts:
                ax_t.plot(*zip(*pts), style, color=color, marker=markers[shape], ms=5, lw=1.6, mfc="none")
                onednn_best[dtype] = max(onednn_best.get(dtype, 0), max(p[1] for p in pts))

    axis_lines = defaultdict(list)  # axis -> legend handles of its horizontal lines

    def hline(ax, y, label, color, style, lw=1.2):
        """A limit as a horizontal line, named in the panel's own legend (annotations collide)."""
        if y:
            axis_lines[ax].append(ax.axhline(y, color=color, ls=style, lw=lw, label=label))

    hline(ax_t, res.probe("amx_int8"), f"AMX int8 peak {fmt_rate(res.probe('amx_int8'), 'OP/s')}", "crimson", "-.")
    hline(ax_t, res.probe("amx_bf16"), f"AMX bf16 peak {fmt_rate(res.probe('amx_bf16'), 'FLOP/s')}", "darkorange", "-.")
    hline(ax_t, res.probe("vnni"), f"AVX-512 VNNI peak {fmt_rate(res.probe('vnni'), 'OP/s')}", "teal", "-.")
    hline(ax_t, onednn_best.get("bf16"), f"oneDNN bf16 best {fmt_rate(onednn_best.get('bf16'), 'FLOP/s')}", "black", "--",
          lw=0.8)
    hline(ax_t, onednn_best.get("u8s8"), f"oneDNN u8s8 best {fmt_rate(onednn_best.get('u8s8'), 'OP/s')}", "dimgray", "--",
          lw=0.8)
    for value, label in hlines:
        hline(ax_t, value, label, "slategray", "--")
    all_m = sorted({k[5] for k in res.amxmm} | {k[3] for k in res.onednn})
    ax_t.legend(handles=axis_lines[ax_t], loc="lower right", fontsize=8, framealpha=0.85)
    ax_t.set_xscale("log", base=2)
    ax_t.set_yscale("log")
    if all_m:
        ax_t.set_xticks(all_m, [str(m) for m in all_m])
    ax_t.set_xlabel("M (activation rows)")
    ax_t.set_ylabel("FLOP/s-equivalent (2·M·N·K / time)")
    ax_t.set_title("Throughput vs M (hot solid, cold dashed)")
    ax_t.grid(True, which="both", alpha=0.3)

    # Right: bytes/s vs M, cold runs.
    for (mode, isa) in series_keys:
        for shape in shapes:
            pts = []
            for M in sorted({k[5] for k in res.amxmm if k[1:5] == (mode, isa) + shape and k[6] == "cold"}):
                _, runs = res.amxmm_run(mode, isa, shape[0], shape[1], M, "cold")
                if runs:
                    pts.append((M, res.value(runs, "bytes_per_second")))
            pts = [p for p in pts if p[1]]
            if pts:
                ax_b.plot(*zip(*pts), "--", color=colors[(mode, isa)], marker=markers[shape], ms=5, lw=1.3)
    hline(ax_b, res.probe("dram"), f"DRAM read probe {fmt_rate(res.probe('dram'), 'B/s')}", "crimson", "-.")
    hline(ax_b, res.probe("dram_1t"), f"DRAM read, 1 thread {fmt_rate(res.probe('dram_1t'), 'B/s')}", "gray", ":")
    ax_b.legend(handles=axis_lines[ax_b], loc="lower left", fontsize=8, framealpha=0.85)
    ax_b.set_xscale("log", base=2)
    ax_b.set_yscale("log")
    cold_m = sorted({k[5] for k in res.amxmm if k[6] == "cold"})
    if cold_m:
        ax_b.set_xticks(cold_m, [str(m) for m in cold_m])
    ax_b.set_xlabel("M (activation rows)")
    ax_b.set_ylabel("bytes/s read (packed weight + activations)")
    ax_b.set_title("Cold runs (weights cycle through ≥ 4× LLC) vs DRAM probe")
    ax_b.grid(True, which="both", alpha=0.3)

    for (mode, isa) in series_keys:
        legend_handles.append(Line2D([], [], color=colors[(mode, isa)], lw=2, label=f"amxmm {mode} / {isa}"))
    legend_handles.append(Line2D([], [], color="gray", lw=1.3, ls="-", label="hot (one weight copy)"))
    legend_handles.append(Line2D([], [], color="gray", lw=1.3, ls="--", label="cold (ring ≥ 4× LLC)"))
    legend_handles.append(Line2D([], [], color="black", lw=1.6, label="oneDNN bf16"))
    legend_handles.append(Line2D([], [], color="dimgray", ls=":", lw=1.6, label="oneDNN u8s8"))
    for shape in shapes:
        legend_handles.append(Line2D([], [], color="gray", marker=markers[shape], ls="none",
                                     label=f"K={shape[0]} N={shape[1]}"))
    fig.legend(handles=legend_handles, loc="lower center", ncol=min(6, len(legend_handles)), fontsize=9,
               frameon=False)
    ctx = res.context
    title = "amxmm benchmarks"
    bits = [ctx.get("host_name"), ctx.get("date"), f"{ctx.get('amxmm_threads')} threads" if ctx.get("amxmm_threads") else None,
            (ctx.get("amxmm_default_isa") or "").split(":")[0] or None]
    title += " — " + ", ".join(b for b in bits if b)
    fig.suptitle(title, fontsize=12)
    rows = math.ceil(len(legend_handles) / min(6, max(1, len(legend_handles))))
    fig.tight_layout(rect=(0, 0.04 + 0.03 * rows, 1, 0.96))
    fig.savefig(out_png, dpi=110)


# ---- report ----------------------------------------------------------------------------------------------

def report(res, files):
    out = []
    ctx = res.context
    out.append("## amxmm benchmark summary")
    out.append("")
    out.append(f"- files: {', '.join(files)}")
    for key, label in (("date", "date"), ("host_name", "host"), ("amxmm_cpu", "cpu"), ("amxmm_threads", "threads"),
                       ("amxmm_default_isa", "default back end"), ("amxmm_onednn_version", "oneDNN"),
                       ("amxmm_version", "amxmm")):
        if key in ctx:
            out.append(f"- {label}: {ctx[key]}")
    if ctx.get("amxmm_llc_bytes"):
        out.append(f"- LLC: {int(ctx['amxmm_llc_bytes']) / 2**20:.1f} MiB")
    out.append("")
    out.append("### In-process limits (best seen across the files)")
    out.append("")
    out.append("| probe | value |")
    out.append("|---|---|")
    out.append(f"| AMX int8 register-only peak | {fmt_rate(res.probe('amx_int8'), 'OP/s')} |")
    out.append(f"| AMX bf16 register-only peak | {fmt_rate(res.probe('amx_bf16'), 'FLOP/s')} |")
    out.append(f"| AVX-512 VNNI register-only peak | {fmt_rate(res.probe('vnni'), 'OP/s')} |")
    out.append(f"| DRAM read, all threads | {fmt_rate(res.probe('dram'), 'B/s')} |")
    out.append(f"| DRAM read, 1 thread | {fmt_rate(res.probe('dram_1t'), 'B/s')} |")
    out.append("")

    # Large M: amxmm vs oneDNN.
    big = sorted({(k[1], k[2], k[3], k[4], k[5]) for k in res.amxmm if k[5] >= 512 and k[6] == "hot"},
                 key=lambda t: (t[0] != "fast", t[2], t[3], t[4], t[1]))
    if big:
        out.append("### Large M (hot): amxmm vs oneDNN")
        out.append("")
        out.append("ratio = oneDNN time / amxmm time (> 1: amxmm faster); `same run` = counter ratio_to_onednn "
                   "from amxmm_bench_onednn, `cross-run` = computed here from separate runs. "
                   "% of probe = the run's pct_of_probe (AMX bf16 probe for fast and AMX int8 probe for exact on amx, "
                   "AVX-512 VNNI probe on avx512_vnni); × 2.2 TOP/s = multiple of the best existing Q4_0 AMX kernel "
                   "on the device (DESIGN.md §5).")
        out.append("")
        out.append("| mode | isa | K×N | M | amxmm | oneDNN | ratio | source | % of probe | × 2.2 TOP/s |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for mode, isa, K, N, M in big:
            src, runs = res.amxmm_run(mode, isa, K, N, M, "hot", prefer="amxmm")
            flops = res.value(runs, "flops")
            dtype = "bf16" if mode == "fast" else "u8s8"
            peer = res.onednn.get((dtype, K, N, M))
            peer_flops = res.value(peer, "flops") if peer else None
            ratio, source = None, "–"
            if src == "amxmm" and res.value(runs, "ratio_to_onednn") is not None:
                ratio, source = res.value(runs, "ratio_to_onednn"), "same run"
            elif peer_flops and flops:
                ratio, source = flops / peer_flops, "cross-run"
            pct = res.value(runs, "pct_of_probe")
            out.append(f"| {mode} | {isa} | {K}×{N} | {M} | {fmt_rate(flops, 'FLOP/s')} | "
                       f"{fmt_rate(peer_flops, 'FLOP/s')} ({dtype}) | {fmt(ratio, '.2f', '×')} | {source} | "
                       f"{fmt(pct, '.1f', '%')} | {fmt(flops / EXISTING_Q4_0_AMX_OPS if flops else None, '.2f', '×')} |")
        out.append("")

    # Decode: cold, small M.
    decode = sorted({(k[1], k[2], k[3], k[4]) for k in res.amxmm if k[6] == "cold" and k[5] == 1})
    if decode:
        out.append("### Decode (cold: weights cycle through ≥ 4× LLC)")
        out.append("")
        out.append("% of DRAM = the run's pct_dram (bytes/s vs the DRAM probe of the same process); "
                   "t(M)/t(1) = time per call relative to M = 1 (target: M = 16 ≤ 1.3×).")
        out.append("")
        out.append("| mode | isa | K×N | M=1 time | M=1 bytes/s | M=1 % of DRAM | t(2)/t(1) | t(4)/t(1) | t(8)/t(1) | "
                   "t(16)/t(1) |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for mode, isa, K, N in decode:
            _, r1 = res.amxmm_run(mode, isa, K, N, 1, "cold")
            t1 = res.seconds(r1)
            cells = []
            for M in (2, 4, 8, 16):
                _, rm = res.amxmm_run(mode, isa, K, N, M, "cold")
                cells.append(fmt(res.seconds(rm) / t1 if rm and t1 else None, ".2f", "×"))
            pct = res.value(r1, "pct_dram")
            if pct is None and res.probe("dram"):
                pct = 100.0 * res.value(r1, "bytes_per_second") / res.probe("dram")
            out.append(f"| {mode} | {isa} | {K}×{N} | {fmt(t1 * 1e6 if t1 else None, '.0f', ' µs')} | "
                       f"{fmt_rate(res.value(r1, 'bytes_per_second'), 'B/s')} | {fmt(pct, '.1f', '%')} | "
                       + " | ".join(cells) + " |")
        out.append("")

    # MoE (amxmm_bench_moe): one row per benchmark.
    if res.moe:
        out.append("### MoE expert FFN / expert GEMM (amxmm_bench_moe)")
        out.append("")
        out.append("moe_ffn = gate + up + act + down + weighted slot sum (FLOPs 2·M·top_k·3·K·F); moe_gemm = gate "
                   "projection only (2·M·top_k·K·F). bytes/s = the active experts' packed weight bytes per call; "
                   "% of probe = the run's pct_of_probe (DRAM probe for cold M ≤ 16, else AMX bf16 (fast) / int8 "
                   "(exact) or AVX-512 VNNI); plan = back end/mode the auto mode ran (from the label); Zipf/uniform = "
                   "time ratio uniform/zipf at the same op, layer, mode, isa, M (target ≥ 0.8 for moe_gemm); "
                   "Qwen3 stack tok/s = M / (48 × time) for qwen3_30b_a3b moe_ffn (target > 1899 at M = 2048).")
        out.append("")
        out.append("| op | layer | routing | mode | plan | M | temp | time | FLOP/s | tokens/s | experts | bytes/s | "
                   "% of probe | zipf/uniform | Qwen3 stack tok/s |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for key in sorted(res.moe, key=lambda k: (k[0], k[1], k[5], k[2] != "uniform", k[3] != "auto", k[3], k[4])):
            op, layer, routing, mode, isa, M, temp = key
            runs = res.moe[key]
            t = res.seconds(runs)
            label = next((r.get("label", "") for r in runs if r.get("label")), "")
            plan = re.search(r"plan=(\S+)", label)
            ref = re.search(r"ref=(\S+)", label)
            zr = None
            if routing == "zipf":
                uni = res.moe.get((op, layer, "uniform", mode, isa, M, temp))
                tu = res.seconds(uni) if uni else None
                zr = tu / t if tu and t else None
            pct = res.value(runs, "pct_of_probe")
            out.append(f"| {op} | {layer} | {routing} | {mode} | {plan[1] if plan else isa} | {M} | {temp} | "
                       f"{fmt(t * 1e6 if t else None, '.0f', ' µs')} | {fmt_rate(res.value(runs, 'flops'), 'FLOP/s')} | "
                       f"{fmt(res.value(runs, 'tokens_per_second'), '.0f')} | "
                       f"{fmt(res.value(runs, 'active_experts'), '.0f')} | "
                       f"{fmt_rate(res.value(runs, 'bytes_per_second'), 'B/s')} | "
                       f"{fmt(pct, '.1f', '%')}{' (' + ref[1] + ')' if ref and pct is not None else ''} | "
                       f"{fmt(zr, '.2f', '×')} | {fmt(res.value(runs, 'qwen3_expert_stack_tokens_per_s'), '.0f')} |")
        out.append("")
    print("\n".join(out))


def ensure_matplotlib(argv):
    """Debian's python3-matplotlib lives in /usr/bin/python3; a pyenv/venv python3 first on PATH lacks it."""
    import importlib.util
    if importlib.util.find_spec("matplotlib") is None:
        system = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(system) and os.path.exists(system):
            os.execv(system, [system, os.path.abspath(__file__)] + argv)
        sys.exit("plot_bench.py: matplotlib is missing (apt-get install python3-matplotlib)")


def main(argv):
    ensure_matplotlib(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_png")
    ap.add_argument("json", nargs="+")
    ap.add_argument("--shape", action="append", help="plot only this shape (e.g. K2048_N4096); repeatable")
    ap.add_argument("--isa", action="append",
                    help="keep only these amxmm back ends (e.g. amx); repeatable; default: all in the files")
    ap.add_argument("--hline", action="append", default=[],
                    help='extra horizontal line on the throughput panel, VALUE:LABEL (e.g. "2.2e12:existing Q4_0 AMX")')
    args = ap.parse_args(argv)
    res = Results()
    for path in args.json:
        res.load(path)
    if args.isa:
        for key in [k for k in res.amxmm if k[2] not in args.isa]:
            del res.amxmm[key]
    hlines = []
    for h in args.hline:
        value, _, label = h.partition(":")
        hlines.append((float(value), label or value))
    plot(res, args.out_png, args.shape, hlines)
    report(res, args.json)
    print(f"\n(plot written to {args.out_png})", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
