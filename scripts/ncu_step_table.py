#!/usr/bin/env python3
"""ncu_step_table.py CSV: the last decode step of an ncu --csv --page raw
profile (scripts/profile-decode.sh), grouped by kernel.

The step is taken as the kernels between the last draw (`sample_kernel`, or
LibTorch's cumsum when the fused kernels are off) and the one before it;
each row gives the calls in that step, microseconds per call and in all."""
import collections
import csv
import sys


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def main(path):
    rows = list(csv.reader(open(path)))
    head = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    cols = rows[head]
    name, dur = cols.index("Kernel Name"), cols.index("gpu__time_duration.sum")
    kernels = [(r[name], number(r[dur])) for r in rows[head + 1:]
               if len(r) > dur and number(r[dur]) is not None]
    ends = [i for i, (n, _) in enumerate(kernels) if "sample_kernel" in n or "cumsum" in n.lower()
            or "scan" in n.lower()]
    if len(ends) < 2:
        sys.exit("ncu_step_table: fewer than two draws in %s; is it a decode profile?" % path)
    step = kernels[ends[-2] + 1:ends[-1] + 1]
    groups = collections.OrderedDict()
    for n, ns in step:
        key = n.split("(")[0].strip()[-70:]
        g = groups.setdefault(key, [0, 0.0])
        g[0] += 1
        g[1] += ns / 1000.0
    total = sum(g[1] for g in groups.values())
    print("one decode step: %d kernels, %.1f us timed one by one" % (len(step), total))
    print("%6s %10s %10s  %s" % ("calls", "us each", "us in all", "kernel"))
    for key, (calls, us) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        print("%6d %10.2f %10.1f  %s" % (calls, us / calls, us, key))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: ncu_step_table.py PROFILE.csv")
    main(sys.argv[1])
