#!/usr/bin/env python3
"""Independent float64 reference for tandem's GRPO advantages and loss.

Pure Python (no torch, no numpy), written from the formulas of
docs/grpo.md §1-§5 and the contract in models/grpo_loss.hpp, not
from the C++ code. It writes the fixed inputs and the expected outputs to

  tests/data/grpo_reference.json                 (for humans and other tools)
  tests/models/advantages_reference_cases.inc    (embedded by advantages_test)
  tests/models/grpo_loss_reference_cases.inc     (embedded by grpo_loss_test)

Run from anywhere:  python3 tests/reference/grpo_reference.py
The output is deterministic (seeded random.Random); rerunning must give a
byte-identical file, so a diff means the reference or the inputs changed.

Conventions that the C++ side documents too:
- Bessel std (n - 1); a group of one has std 0. An all-equal group gets
  advantage exactly 0. "batch" std = std of the raw rewards around the global
  mean (TRL). zero_std_fraction counts groups whose rewards are all equal.
- Every log-ratio is clamped to [-20, 20] before exp (never reached by the
  cases below; it only documents the contract).
- The behaviour weight w = min(exp(prox - behav), cap) is a constant and
  multiplies the clipped surrogate before the KL term is added.
- Inputs are rounded to float32 first, so the C++ float32 run sees exactly
  the values this script used, and differences come from float32 arithmetic
  alone.
"""

import json
import math
import os
import random
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_LOG_RATIO = 20.0


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def clamp(x, lo, hi):
    return min(max(x, lo), hi)


# --------------------------------------------------------------------------
# §1 advantages
# --------------------------------------------------------------------------

def bessel_std(values, centre):
    if len(values) < 2:
        return 0.0
    return math.sqrt(math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1))


def advantages(rewards, group_size, scaling, eps):
    n = len(rewards)
    assert group_size > 0 and n > 0 and n % group_size == 0
    batch_std = bessel_std(rewards, math.fsum(rewards) / n)
    out, zero_groups = [], 0
    for g in range(0, n, group_size):
        grp = rewards[g:g + group_size]
        if all(r == grp[0] for r in grp):
            zero_groups += 1
            out.extend([0.0] * group_size)
            continue
        mu = math.fsum(grp) / group_size
        sd = bessel_std(grp, mu)
        if sd < 1e-12:
            zero_groups += 1
        denom = {"group": sd + eps, "batch": batch_std + eps, "none": 1.0}[scaling]
        out.extend((r - mu) / denom for r in grp)
    return out, zero_groups / (n // group_size)


def advantage_cases():
    rng = random.Random(20240611)
    binary = [1, 0, 0, 0,  1, 1, 1, 1,  0, 1, 1, 0,  0, 0, 0, 0,  1, 0, 1, 1]
    real = [round(rng.uniform(-2, 3), 3) for _ in range(18)]
    real[6:9] = [0.1, 0.1, 0.1]   # all equal but a non-exact sum
    dapo = [1, -1, -1, 1, 1, 1, -1, -1]
    cases = [
        ("binary_group_trl_eps", [float(r) for r in binary], 4, "group", 1e-4),
        ("binary_group_verl_eps", [float(r) for r in binary], 4, "group", 1e-6),
        ("binary_batch", [float(r) for r in binary], 4, "batch", 1e-4),
        ("binary_none", [float(r) for r in binary], 4, "none", 1e-6),
        ("real_group_of_three", real, 3, "group", 1e-6),
        ("real_batch_of_three", real, 3, "batch", 1e-5),
        ("real_none_of_six", real, 6, "none", 0.0),
        ("group_size_one", [0.5, -1.0, 2.0], 1, "group", 1e-6),
        ("dapo_plus_minus_one_eps_zero", [float(r) for r in dapo], 4, "group", 0.0),
        ("all_equal_batch", [2.0] * 6, 3, "batch", 0.0),
    ]
    out = []
    for name, rewards, g, scaling, eps in cases:
        adv, zero = advantages(rewards, g, scaling, eps)
        out.append(dict(name=name, rewards=rewards, group_size=g, scaling=scaling,
                        eps=eps, advantages=adv, zero_std_fraction=zero))
    # A hand check keeps the reference itself honest: {1,0,0,0} has mean 1/4
    # and Bessel std sqrt((9/16 + 3/16)/3) = 1/2.
    a = out[0]["advantages"]
    assert abs(a[0] - 0.75 / (0.5 + 1e-4)) < 1e-15 and abs(a[1] + 0.25 / (0.5 + 1e-4)) < 1e-15
    assert out[0]["zero_std_fraction"] == 2 / 5
    return out


# --------------------------------------------------------------------------
# §2-§5 loss
# --------------------------------------------------------------------------

def token_terms(c, i, t, logp_it):
    """Per-token pieces for row i, position t with log pi_theta = logp_it."""
    anchor = c["prox_logp"][i][t] if c["decoupled"] else c["behav_logp"][i][t]
    u = math.exp(clamp(logp_it - anchor, -MAX_LOG_RATIO, MAX_LOG_RATIO))
    if c["decoupled"]:
        w = math.exp(clamp(c["prox_logp"][i][t] - c["behav_logp"][i][t],
                           -MAX_LOG_RATIO, MAX_LOG_RATIO))
        w_used = min(w, c["cap"])
    else:
        w = w_used = 1.0
    a = c["advantages"][i]
    lo, hi = 1 - c["eps_low"], 1 + c["eps_high"]
    surrogate = -a * u
    clipped = -a * clamp(u, lo, hi)
    l_pg = max(surrogate, clipped) * w_used
    clip_low = a < 0 and u < lo
    clip_high = a > 0 and u > hi
    if c["kl_beta"] > 0:
        d = clamp(c["ref_logp"][i][t] - logp_it, -MAX_LOG_RATIO, MAX_LOG_RATIO)
        kl = math.exp(d) - d - 1
        dkl = 1 - math.exp(d)            # d D / d logp
    else:
        kl = dkl = 0.0
    # In the clipped region the max picks the constant branch: no gradient.
    dpg = 0.0 if (clip_low or clip_high) else -a * u * w_used
    return dict(u=u, w=w, l_pg=l_pg, kl=kl, l=l_pg + c["kl_beta"] * kl,
                clip_low=clip_low, clip_high=clip_high,
                grad=dpg + c["kl_beta"] * dkl)


def agg_weights(c):
    """Weight of each masked token's per-token loss in the scalar loss."""
    m = c["mask"]
    b = len(m)
    total = sum(sum(row) for row in m)
    wts = []
    for row in m:
        if c["aggregation"] == "sequence_mean":
            wts.append([x / (b * max(sum(row), 1)) for x in row])
        elif c["aggregation"] == "token_mean":
            wts.append([x / max(total, 1) for x in row])
        else:
            wts.append([x / (b * c["normalizer_length"]) for x in row])
    return wts


def loss_value(c, logp):
    wts = agg_weights(c)
    return math.fsum(wts[i][t] * token_terms(c, i, t, logp[i][t])["l"]
                     for i in range(len(logp)) for t in range(len(logp[0]))
                     if c["mask"][i][t])


def evaluate(c):
    wts = agg_weights(c)
    b, tt = len(c["logp"]), len(c["logp"][0])
    cells = [(i, t) for i in range(b) for t in range(tt) if c["mask"][i][t]]
    terms = {(i, t): token_terms(c, i, t, c["logp"][i][t]) for i, t in cells}
    n = len(cells)

    def mean(f):
        return math.fsum(f(terms[k], k) for k in cells) / n if n else 0.0

    us = [terms[k]["u"] for k in cells]
    stats = dict(
        loss=math.fsum(wts[i][t] * terms[(i, t)]["l"] for i, t in cells),
        pg_loss=math.fsum(wts[i][t] * terms[(i, t)]["l_pg"] for i, t in cells),
        kl=mean(lambda x, k: x["kl"]),
        entropy=mean(lambda x, k: c["entropy"][k[0]][k[1]]) if c["entropy"] else 0.0,
        clip_low=mean(lambda x, k: float(x["clip_low"])),
        clip_high=mean(lambda x, k: float(x["clip_high"])),
    )
    stats["clip_region"] = stats["clip_low"] + stats["clip_high"]
    stats["ratio_mean"] = mean(lambda x, k: x["u"])
    stats["ratio_min"] = min(us) if us else 0.0
    stats["ratio_max"] = max(us) if us else 0.0
    if c["decoupled"]:
        stats["behav_weight_mean"] = mean(lambda x, k: x["w"])
        stats["behav_weight_truncated"] = mean(lambda x, k: float(x["w"] > c["cap"]))
        stats["behav_approx_kl"] = mean(
            lambda x, k: c["prox_logp"][k[0]][k[1]] - c["behav_logp"][k[0]][k[1]])
    else:
        stats.update(behav_weight_mean=1.0, behav_weight_truncated=0.0,
                     behav_approx_kl=0.0)
    stats["tokens"] = float(n)
    grad = [[wts[i][t] * terms[(i, t)]["grad"] if c["mask"][i][t] else 0.0
             for t in range(tt)] for i in range(b)]
    check_gradient(c, grad)
    return stats, grad


def check_gradient(c, grad, h=1e-6):
    """Central finite differences of the loss against the analytic gradient."""
    for i in range(len(grad)):
        for t in range(len(grad[0])):
            plus = [row[:] for row in c["logp"]]
            minus = [row[:] for row in c["logp"]]
            plus[i][t] += h
            minus[i][t] -= h
            fd = (loss_value(c, plus) - loss_value(c, minus)) / (2 * h)
            assert abs(fd - grad[i][t]) < 1e-8 + 1e-6 * abs(grad[i][t]), \
                (c["name"], i, t, fd, grad[i][t])


# --------------------------------------------------------------------------
# loss cases
# --------------------------------------------------------------------------

def pick_ratio(rng, lo, hi, kind):
    """A ratio u of the requested kind, at least 0.03 from either clip bound."""
    while True:
        u = {"in": rng.uniform(0.82, 1.2), "high": rng.uniform(1.1, 1.9),
             "low": rng.uniform(0.45, 0.9)}[kind]
        if abs(u - lo) > 0.03 and abs(u - hi) > 0.03:
            return u


def make_case(name, seed, b, t, lengths, decoupled, eps_low, eps_high, kl_beta,
              cap, aggregation, normalizer_length, with_entropy, weight_spread):
    rng = random.Random(seed)
    lo, hi = 1 - eps_low, 1 + eps_high
    adv = [f32(rng.choice([-1, 1]) * rng.uniform(0.2, 2.0)) for _ in range(b)]
    if b > 3:
        adv[rng.randrange(b)] = 0.0   # the row of a zero-std group
    c = dict(name=name, decoupled=decoupled, eps_low=eps_low, eps_high=eps_high,
             kl_beta=kl_beta, cap=cap, aggregation=aggregation,
             normalizer_length=normalizer_length, batch=b, time=t,
             advantages=adv, mask=[], logp=[], prox_logp=[], behav_logp=[],
             ref_logp=[], entropy=[])
    for i in range(b):
        rows = {k: [] for k in ("mask", "logp", "prox_logp", "behav_logp",
                                "ref_logp", "entropy")}
        for pos in range(t):
            if pos >= lengths[i]:
                # Padding holds garbage that must never reach the loss or the
                # gradient: exp(60 - (-60)) overflows float32, ref - logp
                # gives a k3 of ~119, entropy 1e6.
                for k, v in (("mask", 0.0), ("logp", 60.0), ("prox_logp", -60.0),
                             ("behav_logp", 0.0), ("ref_logp", -60.0),
                             ("entropy", 1e6)):
                    rows[k].append(v)
                continue
            logp = f32(rng.uniform(-4.0, -0.05))
            u = pick_ratio(rng, lo, hi, rng.choice(["in", "in", "high", "low"]))
            anchor = f32(logp - math.log(u))
            w = math.exp(rng.gauss(0.0, weight_spread))
            if rng.random() < 0.2:
                w = cap * rng.uniform(1.2, 2.0)   # above the truncation cap
            other = f32(anchor - math.log(w))
            rows["mask"].append(1.0)
            rows["logp"].append(logp)
            rows["prox_logp"].append(anchor if decoupled else 0.0)
            rows["behav_logp"].append(other if decoupled else anchor)
            rows["ref_logp"].append(f32(logp + rng.gauss(0.0, 0.3)))
            rows["entropy"].append(f32(rng.uniform(0.1, 3.0)))
        for k, v in rows.items():
            c[k].append(v)
    if not decoupled:
        c["prox_logp"] = []          # the coupled loss must not need it
    if kl_beta == 0:
        c["ref_logp"] = []           # nor the reference without KL
    if not with_entropy:
        c["entropy"] = []
    for i, j in [(i, j) for i in range(b) for j in range(t) if c["mask"][i][j]]:
        x = token_terms(c, i, j, c["logp"][i][j])
        assert abs(x["u"] - lo) > 0.02 and abs(x["u"] - hi) > 0.02
        if decoupled:
            assert abs(x["w"] - cap) > 0.01
    return c


def loss_cases():
    specs = [
        # name, seed, B, T, lengths, decoupled, eps_low, eps_high, beta, cap,
        # aggregation, L, entropy, spread of log w
        ("coupled_token_mean_symmetric", 1, 4, 6, [6, 4, 5, 2], False, 0.2, 0.2,
         0.0, 5.0, "token_mean", 0, True, 0.0),
        ("decoupled_token_mean_clip_higher", 2, 4, 6, [6, 6, 3, 5], True, 0.2, 0.28,
         0.0, 5.0, "token_mean", 0, True, 0.5),
        ("decoupled_kl_sequence_mean_empty_row", 3, 4, 5, [5, 0, 3, 4], True, 0.2,
         0.28, 0.04, 5.0, "sequence_mean", 0, True, 0.3),
        ("decoupled_kl_constant_normalizer_cap2", 4, 3, 6, [6, 2, 4], True, 0.2, 0.28,
         0.1, 2.0, "constant_normalizer", 9, False, 0.6),
        ("coupled_kl_sequence_mean_asymmetric", 5, 4, 6, [3, 6, 5, 1], False, 0.1, 0.3,
         0.04, 5.0, "sequence_mean", 0, True, 0.0),
        ("coupled_constant_normalizer", 6, 3, 5, [5, 5, 2], False, 0.2, 0.28, 0.0,
         5.0, "constant_normalizer", 5, False, 0.0),
        ("decoupled_kl_token_mean_wide", 7, 6, 7, [7, 1, 4, 6, 7, 3], True, 0.15, 0.25,
         0.001, 3.0, "token_mean", 0, True, 0.8),
        ("decoupled_sequence_mean_no_kl_asymmetric", 8, 5, 4, [4, 2, 3, 4, 1], True,
         0.3, 0.1, 0.0, 4.0, "sequence_mean", 0, False, 0.4),
    ]
    cases = []
    for s in specs:
        c = make_case(*s)
        c["expected"], c["grad"] = evaluate(c)
        cases.append(c)
    # The cases together must exercise every branch the brief asks for.
    assert any(c["expected"]["clip_low"] > 0 for c in cases)
    assert any(c["expected"]["clip_high"] > 0 for c in cases)
    assert any(c["expected"]["behav_weight_truncated"] > 0 for c in cases)
    assert all(c["expected"]["clip_region"] > 0 for c in cases)
    return cases


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------

def num(x):
    return repr(float(x))


def vec(xs):
    return "{" + ", ".join(num(x) for x in xs) + "}"


def flat(rows):
    return [x for row in rows for x in row]


STAT_ORDER = ["loss", "pg_loss", "kl", "entropy", "clip_low", "clip_high",
              "clip_region", "ratio_mean", "ratio_min", "ratio_max",
              "behav_weight_mean", "behav_weight_truncated", "behav_approx_kl",
              "tokens"]

HEADER = ("// Generated by tests/reference/grpo_reference.py -- do not edit.\n"
          "// Regenerate: python3 tests/reference/grpo_reference.py\n")


def advantage_inc(cases):
    out = [HEADER, "// {name, rewards, group_size, scaling, eps, advantages, "
                   "zero_std_fraction}\n"]
    for c in cases:
        out.append('{"%s", %s, %d, tandem::std_scaling::%s, %s,\n %s, %s},\n' % (
            c["name"], vec(c["rewards"]), c["group_size"], c["scaling"],
            num(c["eps"]), vec(c["advantages"]), num(c["zero_std_fraction"])))
    return "".join(out)


def loss_inc(cases):
    out = [HEADER,
           "// {name, decoupled, eps_low, eps_high, kl_beta, cap, aggregation,\n"
           "//  normalizer_length, B, T, logp, prox_logp, behav_logp, ref_logp,\n"
           "//  advantages, mask, entropy (row-major [B, T]; {} = undefined),\n"
           "//  expected {" + ", ".join(STAT_ORDER) + "},\n"
           "//  d loss / d logp}\n"]
    for c in cases:
        out.append('{"%s", %s, %s, %s, %s, %s, tandem::loss_aggregation::%s, %d, %d, %d,\n'
                   % (c["name"], "true" if c["decoupled"] else "false",
                      num(c["eps_low"]), num(c["eps_high"]), num(c["kl_beta"]),
                      num(c["cap"]), c["aggregation"], c["normalizer_length"],
                      c["batch"], c["time"]))
        for k in ("logp", "prox_logp", "behav_logp", "ref_logp"):
            out.append(" %s,\n" % vec(flat(c[k])))
        out.append(" %s,\n %s,\n %s,\n" % (vec(c["advantages"]), vec(flat(c["mask"])),
                                           vec(flat(c["entropy"]))))
        out.append(" {%s},\n" % ", ".join(num(c["expected"][k]) for k in STAT_ORDER))
        out.append(" %s},\n" % vec(flat(c["grad"])))
    return "".join(out)


def write(path, text):
    full = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    print("wrote", path)


def main():
    adv = advantage_cases()
    loss = loss_cases()
    write("tests/data/grpo_reference.json",
          json.dumps({"generator": "tests/reference/grpo_reference.py",
                      "advantages": adv, "loss": loss}, indent=1) + "\n")
    write("tests/models/advantages_reference_cases.inc", advantage_inc(adv))
    write("tests/models/grpo_loss_reference_cases.inc", loss_inc(loss))


if __name__ == "__main__":
    main()
