# The chart of Tools/sandbox/bench.py's pyperformance comparison, run by
# the Python of build/bench-venv (which has matplotlib) with the arguments
# SUMMARY_JSON PNG: one horizontal bar per benchmark, its ratio B/A (time:
# longer is slower) with its 95 % interval, the geometric mean as a line
# and the 1 % band around 1 shaded; the machine and the commit below.

import json
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

summary_path, png = sys.argv[1], sys.argv[2]
with open(summary_path) as f:
    summary = json.load(f)

rows = sorted(summary["benchmarks"], key=lambda r: r["ratio"])
labels = summary.get("labels", ["A", "B"])
names = [r["name"] for r in rows]
ratios = [r["ratio"] for r in rows]
low = [r["ratio"] - r["low"] for r in rows]
high = [r["high"] - r["ratio"] for r in rows]
colors = ["#c0504d" if r["significant"] and r["ratio"] > 1 else
          "#4f81bd" if r["significant"] else "#a6a6a6" for r in rows]

fig, ax = plt.subplots(figsize=(8, 1.6 + 0.22 * len(rows)))
ax.axvspan(0.99, 1.01, color="#e8e8e8", zorder=0, label="1 % band")
ax.barh(range(len(rows)), [r - 1 for r in ratios], left=1, color=colors,
        xerr=[low, high], error_kw={"elinewidth": 0.8, "capsize": 2},
        zorder=2)
ax.axvline(1, color="black", linewidth=0.8, zorder=1)
geo = summary.get("geomean")
if geo:
    ax.axvline(geo, color="#9b2d2a", linestyle="--", linewidth=1, zorder=3,
               label=f"geometric mean {geo:.3f} "
                     f"({summary['geomean_low']:.3f}-"
                     f"{summary['geomean_high']:.3f})")
ax.set_yticks(range(len(rows)))
ax.set_yticklabels(names, fontsize=7)
ax.set_ylim(-0.6, len(rows) - 0.4)
ax.set_xlabel(f"time, {labels[1]} / {labels[0]} (right of 1: slower; "
              f"bars: 95 % interval)")
ax.set_title(f"{summary.get('title', 'pyperformance')}: {labels[1]} vs "
             f"{labels[0]}", fontsize=10)
ax.legend(loc="lower right", fontsize=7)
machine = summary.get("machine") or {}
if machine:
    build = (machine.get("builds") or {}).get("on") or {}
    note = (f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
            f"Linux {machine.get('kernel', '?')}, {build.get('compiler', '')}"
            f"\n{machine.get('mode', '')} {machine.get('options', '')}, "
            f"commit {str(machine.get('commit', ''))[:12]}, "
            f"{machine.get('date', '')}")
    fig.text(0.01, 0.005, note, fontsize=6, va="bottom")
fig.tight_layout(rect=(0, 0.03 if machine else 0, 1, 1))
fig.savefig(png, dpi=110)
