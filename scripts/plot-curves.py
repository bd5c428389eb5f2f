#!/usr/bin/env python3
"""Draws learning curves from tandem runs as one SVG (no dependencies).

    scripts/plot-curves.py OUT.svg LABEL=RUN_DIR [LABEL=RUN_DIR ...]
        [--metric reward_mean] [--window 10] [--target 0.9] [--title TEXT]

Each RUN_DIR/metrics.jsonl gives one line: the `--window`-step moving mean of
`--metric` (default reward_mean, the value run.target_reward is checked on)
against elapsed seconds. A dashed line marks --target (0 = none).
"""
import argparse
import json
import os
import sys
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
H = 400                  # canvas height; the width grows with the legend
L, T, B = 60, 30, 45     # margins; the legend sits on the right


def read_curve(run_dir, metric, window):
    path = os.path.join(run_dir, "metrics.jsonl")
    points, recent = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON ({e})")
            if metric not in rec or "elapsed_s" not in rec:
                continue
            recent = (recent + [float(rec[metric])])[-window:]
            points.append((float(rec["elapsed_s"]), sum(recent) / len(recent)))
    if not points:
        sys.exit(f"{path}: no records with '{metric}' and 'elapsed_s'")
    return points


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    ap.add_argument("--metric", default="reward_mean")
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    if a.window < 1:
        sys.exit("--window must be >= 1")
    curves = []
    for item in a.runs:
        label, sep, run_dir = item.partition("=")
        if not sep or not label or not run_dir:
            sys.exit(f"'{item}': expected LABEL=RUN_DIR")
        curves.append((label, read_curve(run_dir, a.metric, a.window)))
    global W, R
    R = 50 + 7 * max(len(label) for label, _ in curves)  # ~7 px per character
    W = 550 + R
    xmax = max(p[0] for _, c in curves for p in c) or 1.0
    ymax = max(1.0, max(p[1] for _, c in curves for p in c))
    sx = lambda x: L + (W - L - R) * x / xmax
    sy = lambda y: H - B - (H - T - B) * y / ymax
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    if a.title:
        out.append(f'<text x="{L}" y="18" font-size="14">{escape(a.title)}</text>')
    for i in range(6):  # horizontal grid and y labels
        y = ymax * i / 5
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
                   f'stroke="#ddd"/><text x="{L - 6}" y="{sy(y) + 4:.1f}" '
                   f'text-anchor="end">{y:.1f}</text>')
    # x labels at a round number of seconds, at most 8 of them
    tick = next((t for t in (10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
                 if xmax / t <= 8), 3600 * (int(xmax // 28800) + 1))
    x = 0.0
    while x <= xmax:
        out.append(f'<text x="{sx(x):.1f}" y="{H - B + 16}" text-anchor="middle">'
                   f'{x:.0f}</text>')
        x += tick
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">'
               f'elapsed seconds</text>')
    out.append(f'<text x="14" y="{(T + H - B) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(T + H - B) / 2})">'
               f'{escape(a.metric)} ({a.window}-step mean)</text>')
    if a.target > 0:
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{sy(a.target):.1f}" '
                   f'y2="{sy(a.target):.1f}" stroke="#555" stroke-dasharray="5,4"/>')
    for k, (label, pts) in enumerate(curves):
        colour = COLOURS[k % len(COLOURS)]
        step = max(1, len(pts) // 600)  # at most ~600 vertices per line
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts[::step] + [pts[-1]])
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                   f'points="{path}"/>')
        ly = T + 10 + 18 * k
        out.append(f'<line x1="{W - R + 10}" x2="{W - R + 30}" y1="{ly}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"/><text x="{W - R + 36}" '
                   f'y="{ly + 4}">{escape(label)}</text>')
    out.append("</svg>")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
