#!/usr/bin/env python3
"""Independent float64 reference for tandem's GRPO advantages and loss.

Pure Python (no torch, no numpy), written from the formulas of
docs/grpo.md §1-§5 and the contract in models/grpo_loss.hpp, not
from the C++ code. It writes the fixed inputs and the expected outputs to

  tests/data/grpo_reference.json                 (for humans and other tools)
  tests/models/advantages_reference_cases.inc    (embedded by advantages_test)
  tests/models/grpo_loss_reference_cases.inc     (embedded by grpo_loss_test)
  tests/tasks/overlong_penalty_reference_cases.inc (overlong_penalty_test)

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
  multiplies the clipped surrogate before the KL term is added. In mask mode
  a w outside [lower, cap] is 0 instead; the token keeps its place in every
  denominator.
- "batch_residual" std = Bessel std over the batch of r_i - mean_group(i)
  (AReaL mean_level group, std_level batch).
- Sequence-level ratio (GSPO): s_i = exp(mean over the row's tokens of the
  clamped log-ratio; tokens that mask mode drops are left out of the mean);
  the per-token surrogate uses s_i on every token of row i, and the loss is
  differentiated as a function of all of the row's log-probs (checked by
  finite differences, as every case is).
- Dual clip c: for A < 0 the per-token surrogate is min(l_pg, -c A).
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


def centred_batch_std(rewards, group_size):
    """sqrt(sum_i (r_i - mean of i's group)^2 / (n - 1)) over the batch."""
    n = len(rewards)
    if n < 2:
        return 0.0
    sq = []
    for g in range(0, n, group_size):
        grp = rewards[g:g + group_size]
        mu = grp[0] if all(r == grp[0] for r in grp) else math.fsum(grp) / group_size
        sq.extend((r - mu) ** 2 for r in grp)
    return math.sqrt(math.fsum(sq) / (n - 1))


def advantages(rewards, group_size, scaling, eps):
    n = len(rewards)
    assert group_size > 0 and n > 0 and n % group_size == 0
    batch_std = bessel_std(rewards, math.fsum(rewards) / n)
    residual_std = centred_batch_std(rewards, group_size)
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
        denom = {"group": sd + eps, "batch": batch_std + eps,
                 "batch_residual": residual_std + eps, "none": 1.0}[scaling]
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
        ("binary_batch_residual", [float(r) for r in binary], 4, "batch_residual", 1e-4),
        ("real_batch_residual_of_three", real, 3, "batch_residual", 1e-6),
        ("all_equal_batch_residual", [2.0] * 6, 3, "batch_residual", 0.0),
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
    # batch_residual by hand: the residuals of {1,0,0,0} are {3/4, -1/4 x3}
    # (sum of squares 3/4), of {0,1,1,0} {-1/2, 1/2 x2, -1/2} (1), of
    # {1,0,1,1} {1/4, -3/4, 1/4, 1/4} (3/4); all-equal groups give 0:
    # std = sqrt(2.5 / 19).
    r = [c for c in out if c["name"] == "binary_batch_residual"][0]["advantages"]
    assert abs(r[0] - 0.75 / (math.sqrt(2.5 / 19) + 1e-4)) < 1e-14
    return out


# --------------------------------------------------------------------------
# §2-§5 loss
# --------------------------------------------------------------------------

def anchor_of(c, i, t):
    return c["prox_logp"][i][t] if c["decoupled"] else c["behav_logp"][i][t]


def ratio_of(c, logp, i, t):
    """u for token (i, t): its own ratio, or GSPO's s_i of its row."""
    if c["ratio_level"] == "token":
        return math.exp(clamp(logp[i][t] - anchor_of(c, i, t), -MAX_LOG_RATIO, MAX_LOG_RATIO))
    cells = [k for k in range(len(logp[i])) if c["mask"][i][k] and kept(c, i, k)]
    logs = [clamp(logp[i][k] - anchor_of(c, i, k), -MAX_LOG_RATIO, MAX_LOG_RATIO)
            for k in cells]
    return math.exp(math.fsum(logs) / max(len(cells), 1))


def kept(c, i, t):
    """False for a token that mask mode gives weight 0 (it also leaves GSPO's
    geometric mean, as in AReaL)."""
    return not c["decoupled"] or c["behav_mode"] != "mask" or \
        behaviour_weight(c, i, t)[1] != 0.0


def behaviour_weight(c, i, t):
    """(w before its bounds, w as it multiplies the surrogate)."""
    if not c["decoupled"]:
        return 1.0, 1.0
    w = math.exp(clamp(c["prox_logp"][i][t] - c["behav_logp"][i][t],
                       -MAX_LOG_RATIO, MAX_LOG_RATIO))
    if c["behav_mode"] == "mask":
        return w, (w if c["lower"] <= w <= c["cap"] else 0.0)
    return w, min(w, c["cap"])


def surrogate(c, a, u):
    """(l_pg before w, d l_pg / d u, clip_low, clip_high, dual-clipped)."""
    lo, hi = 1 - c["eps_low"], 1 + c["eps_high"]
    l = max(-a * u, -a * clamp(u, lo, hi))
    clip_low = a < 0 and u < lo
    clip_high = a > 0 and u > hi
    dual = c["dual_clip"] > 0 and a < 0 and l > -c["dual_clip"] * a
    if dual:
        l = -c["dual_clip"] * a
    # In a clipped region the max (or the dual min) picks a constant branch.
    slope = 0.0 if (clip_low or clip_high or dual) else -a
    return l, slope, clip_low, clip_high, dual


def token_terms(c, logp, i, t):
    """Per-token pieces for row i, position t under log pi_theta = logp."""
    u = ratio_of(c, logp, i, t)
    w, w_used = behaviour_weight(c, i, t)
    l, slope, clip_low, clip_high, dual = surrogate(c, c["advantages"][i], u)
    l_pg = l * w_used
    if c["kl_beta"] > 0:
        d = clamp(c["ref_logp"][i][t] - logp[i][t], -MAX_LOG_RATIO, MAX_LOG_RATIO)
        kl = math.exp(d) - d - 1
        dkl = 1 - math.exp(d)            # d D / d logp
    else:
        kl = dkl = 0.0
    return dict(u=u, w=w, w_used=w_used, l_pg=l_pg, kl=kl,
                l=l_pg + c["kl_beta"] * kl, clip_low=clip_low,
                clip_high=clip_high, dual=dual, dl_du=slope * w_used, dkl=dkl)


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
    return math.fsum(wts[i][t] * token_terms(c, logp, i, t)["l"]
                     for i in range(len(logp)) for t in range(len(logp[0]))
                     if c["mask"][i][t])


def analytic_gradient(c, terms, wts):
    """d loss / d logp. Token level: d u / d logp = u on its own token. GSPO:
    d s_i / d logp_{i,t} = s_i / n_i for every token of row i that enters
    its mean (n_i of them), 0 for a token the mask drops."""
    b, tt = len(c["logp"]), len(c["logp"][0])
    grad = [[0.0] * tt for _ in range(b)]
    for i in range(b):
        cells = [t for t in range(tt) if c["mask"][i][t]]
        in_mean = [t for t in cells if kept(c, i, t)]
        if c["ratio_level"] == "sequence" and cells:
            s = terms[(i, cells[0])]["u"]
            through_s = math.fsum(wts[i][k] * terms[(i, k)]["dl_du"] for k in cells)
        for t in cells:
            x = terms[(i, t)]
            g = wts[i][t] * c["kl_beta"] * x["dkl"]
            if c["ratio_level"] == "sequence":
                if t in in_mean:
                    g += through_s * s / len(in_mean)
            else:
                g += wts[i][t] * x["dl_du"] * x["u"]
            grad[i][t] = g
    return grad


def sequence_clip_stats(c, terms):
    rows = [i for i in range(len(c["mask"])) if any(c["mask"][i])]
    if c["ratio_level"] != "sequence" or not rows:
        return 0.0, float(len(rows))
    first = {i: next(t for t in range(len(c["mask"][i])) if c["mask"][i][t]) for i in rows}
    clipped = sum(1 for i in rows
                  if terms[(i, first[i])]["clip_low"] or terms[(i, first[i])]["clip_high"])
    return clipped / len(rows), float(len(rows))


def evaluate(c):
    wts = agg_weights(c)
    b, tt = len(c["logp"]), len(c["logp"][0])
    cells = [(i, t) for i in range(b) for t in range(tt) if c["mask"][i][t]]
    terms = {(i, t): token_terms(c, c["logp"], i, t) for i, t in cells}
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
        outside = lambda x, k: float(not c["lower"] <= x["w"] <= c["cap"])
        above = lambda x, k: float(x["w"] > c["cap"])
        mask_mode = c["behav_mode"] == "mask"
        stats["behav_weight_truncated"] = 0.0 if mask_mode else mean(above)
        stats["behav_weight_masked"] = mean(outside) if mask_mode else 0.0
        stats["behav_approx_kl"] = mean(
            lambda x, k: c["prox_logp"][k[0]][k[1]] - c["behav_logp"][k[0]][k[1]])
    else:
        stats.update(behav_weight_mean=1.0, behav_weight_truncated=0.0,
                     behav_weight_masked=0.0, behav_approx_kl=0.0)
    stats["tokens"] = float(n)
    stats["clip_dual"] = mean(lambda x, k: float(x["dual"]))
    stats["clip_sequence"], stats["sequences"] = sequence_clip_stats(c, terms)
    grad = analytic_gradient(c, terms, wts)
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

def pick_ratio(rng, lo, hi, kind, dual_clip=0.0):
    """A ratio u of the requested kind, at least 0.03 from either clip bound
    (and from the dual-clip bound when there is one)."""
    while True:
        u = {"in": rng.uniform(0.82, 1.2), "high": rng.uniform(1.1, 1.9),
             "low": rng.uniform(0.45, 0.9)}[kind]
        if abs(u - lo) > 0.03 and abs(u - hi) > 0.03 and \
                (dual_clip == 0 or abs(u - dual_clip) > 0.03):
            return u


def pick_sequence_ratio(rng, lo, hi, kind, dual_clip):
    """GSPO's s_i: inside the clip range (its middle half, which also works
    for the paper's eps of a few 1e-4), or clearly above or below it."""
    while True:
        s = {"in": lo + (hi - lo) * rng.uniform(0.25, 0.75),
             "high": hi + rng.uniform(0.03, 0.6),
             "low": lo - rng.uniform(0.03, 0.4)}[kind]
        if dual_clip == 0 or abs(s - dual_clip) > 0.03:
            return s


def margin(c):
    """How far every ratio stays from a kink, so that finite differences and
    float32 see the same branch as the float64 reference."""
    lo, hi = 1 - c["eps_low"], 1 + c["eps_high"]
    return min(0.02, (hi - lo) / 8)


def row_ratios(rng, c, length):
    """Per-token ratios of one row: independent draws (token level), or
    s_i times a zero-mean spread (sequence level)."""
    lo, hi = 1 - c["eps_low"], 1 + c["eps_high"]
    if c["ratio_level"] == "token":
        return None
    s = pick_sequence_ratio(rng, lo, hi, rng.choice(["in", "high", "low"]), c["dual_clip"])
    noise = [rng.gauss(0.0, 0.4) for _ in range(length)]
    centre = math.fsum(noise) / max(length, 1)
    return [s * math.exp(x - centre) for x in noise]


def draw_weight(rng, spread, cap, lower):
    """A behaviour weight at least 0.015 from the cap and the lower bound."""
    while True:
        w = math.exp(rng.gauss(0.0, spread))
        if rng.random() < 0.2:
            w = cap * rng.uniform(1.2, 2.0)    # above the truncation cap
        if lower > 0 and rng.random() < 0.2:
            w = lower * rng.uniform(0.3, 0.8)  # below the mask's lower bound
        if abs(w - cap) > 0.015 and (lower == 0 or abs(w - lower) > 0.015):
            return w


def make_case(name, seed, b, t, lengths, decoupled, eps_low, eps_high, kl_beta,
              cap, aggregation, normalizer_length, with_entropy, weight_spread,
              ratio_level="token", behav_mode="truncate", lower=0.0, dual_clip=0.0):
    rng = random.Random(seed)
    lo, hi = 1 - eps_low, 1 + eps_high
    adv = [f32(rng.choice([-1, 1]) * rng.uniform(0.2, 2.0)) for _ in range(b)]
    if b > 3:
        adv[rng.randrange(b)] = 0.0   # the row of a zero-std group
    c = dict(name=name, decoupled=decoupled, eps_low=eps_low, eps_high=eps_high,
             kl_beta=kl_beta, cap=cap, aggregation=aggregation,
             normalizer_length=normalizer_length, batch=b, time=t,
             ratio_level=ratio_level, behav_mode=behav_mode, lower=lower,
             dual_clip=dual_clip,
             advantages=adv, mask=[], logp=[], prox_logp=[], behav_logp=[],
             ref_logp=[], entropy=[])
    for i in range(b):
        rows = {k: [] for k in ("mask", "logp", "prox_logp", "behav_logp",
                                "ref_logp", "entropy")}
        ratios = row_ratios(rng, c, lengths[i])
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
            if ratios is None:
                u = pick_ratio(rng, lo, hi, rng.choice(["in", "in", "high", "low"]),
                               dual_clip)
            else:
                u = ratios[pos]
            anchor = f32(logp - math.log(u))
            w = draw_weight(rng, weight_spread, cap, lower)
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
    check_margins(c)
    return c


def check_margins(c):
    lo, hi = 1 - c["eps_low"], 1 + c["eps_high"]
    gap = margin(c)
    for i, j in [(i, j) for i in range(c["batch"]) for j in range(c["time"])
                 if c["mask"][i][j]]:
        x = token_terms(c, c["logp"], i, j)
        assert abs(x["u"] - lo) > gap and abs(x["u"] - hi) > gap, (c["name"], x["u"])
        assert c["dual_clip"] == 0 or abs(x["u"] - c["dual_clip"]) > gap
        if c["decoupled"]:
            assert abs(x["w"] - c["cap"]) > 0.01
            assert c["lower"] == 0 or abs(x["w"] - c["lower"]) > 0.01


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
    # The objective variants: GSPO's sequence ratio, the masked behaviour
    # weight with and without a lower bound, the dual clip.
    variants = [
        (("gspo_coupled_paper_eps", 9, 5, 6, [6, 3, 5, 1, 4], False, 3e-4, 4e-4, 0.0,
          5.0, "sequence_mean", 0, True, 0.0), dict(ratio_level="sequence")),
        (("gspo_decoupled_mask_dual_clip_kl", 10, 6, 5, [5, 0, 3, 4, 5, 2], True, 0.1,
          0.15, 0.04, 2.0, "sequence_mean", 0, True, 0.5),
         dict(ratio_level="sequence", behav_mode="mask", lower=0.5, dual_clip=1.3)),
        (("gspo_decoupled_truncate", 14, 4, 6, [6, 2, 5, 4], True, 0.05, 0.08, 0.0,
          4.0, "sequence_mean", 0, True, 0.4), dict(ratio_level="sequence")),
        (("decoupled_mask_lower_token_mean", 11, 4, 7, [7, 5, 6, 3], True, 0.2, 0.28,
          0.0, 3.0, "token_mean", 0, False, 0.8), dict(behav_mode="mask", lower=0.4)),
        (("coupled_dual_clip_token_mean", 14, 5, 6, [6, 6, 4, 5, 2], False, 0.2, 0.28,
          0.0, 5.0, "token_mean", 0, True, 0.0), dict(dual_clip=1.5)),
        (("decoupled_mask_dual_clip_constant_normalizer_kl", 13, 4, 6, [6, 4, 5, 3],
          True, 0.2, 0.28, 0.1, 2.5, "constant_normalizer", 8, False, 0.6),
         dict(behav_mode="mask", dual_clip=1.4)),
    ]
    cases = []
    for args, kwargs in [(s, {}) for s in specs] + variants:
        c = make_case(*args, **kwargs)
        c["expected"], c["grad"] = evaluate(c)
        cases.append(c)
    # The cases together must exercise every branch the brief asks for.
    assert any(c["expected"]["clip_low"] > 0 for c in cases)
    assert any(c["expected"]["clip_high"] > 0 for c in cases)
    assert any(c["expected"]["behav_weight_truncated"] > 0 for c in cases)
    assert all(c["expected"]["clip_region"] > 0 for c in cases)
    for c in cases[len(specs):]:
        if c["ratio_level"] == "sequence":
            assert 0 < c["expected"]["clip_sequence"] < 1, c["name"]
        if c["behav_mode"] == "mask":
            assert c["expected"]["behav_weight_masked"] > 0, c["name"]
        if c["dual_clip"] > 0:
            assert c["expected"]["clip_dual"] > 0, c["name"]
    # A lower bound must mask something the cap alone would not.
    low = [c for c in cases if c["lower"] > 0]
    assert all(any(0 < w < c["lower"] for row, mrow in
                   zip(weights_of(c), c["mask"]) for w, m in zip(row, mrow) if m)
               for c in low)
    return cases


def weights_of(c):
    return [[behaviour_weight(c, i, t)[0] for t in range(c["time"])]
            for i in range(c["batch"])]

# --------------------------------------------------------------------------
# §1.1 DAPO soft overlong punishment
# --------------------------------------------------------------------------

def overlong_reward(length, l_max, l_cache, penalty):
    """DAPO's R_length scaled by `penalty`; l_cache == 0 switches it off."""
    if l_cache == 0 or length <= l_max - l_cache:
        return 0.0
    if length <= l_max:
        return ((l_max - l_cache) - length) / l_cache * penalty
    return -penalty


def overlong_cases():
    out = []
    for l_max, l_cache, penalty in [(16, 4, 1.0), (16, 16, 0.5), (10, 1, 2.0),
                                    (8, 0, 1.0), (12, 5, 0.3)]:
        for length in range(0, l_max + 3):
            out.append(dict(length=length, max_new_tokens=l_max, buffer=l_cache,
                            penalty=penalty,
                            expected=overlong_reward(length, l_max, l_cache, penalty)))
    assert overlong_reward(14, 16, 4, 1.0) == -0.5   # halfway into the buffer
    assert overlong_reward(16, 16, 4, 1.0) == -1.0   # at L_max: the full penalty
    return out


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
              "tokens", "behav_weight_masked", "clip_dual", "clip_sequence",
              "sequences"]

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
           "//  normalizer_length, B, T, ratio_level, behav_weight_mode,\n"
           "//  behav_weight_lower, dual_clip, logp, prox_logp, behav_logp, ref_logp,\n"
           "//  advantages, mask, entropy (row-major [B, T]; {} = undefined),\n"
           "//  expected {" + ", ".join(STAT_ORDER) + "},\n"
           "//  d loss / d logp}\n"]
    for c in cases:
        out.append('{"%s", %s, %s, %s, %s, %s, tandem::loss_aggregation::%s, %d, %d, %d,\n'
                   % (c["name"], "true" if c["decoupled"] else "false",
                      num(c["eps_low"]), num(c["eps_high"]), num(c["kl_beta"]),
                      num(c["cap"]), c["aggregation"], c["normalizer_length"],
                      c["batch"], c["time"]))
        out.append(" tandem::importance_level::%s, tandem::weight_bound_mode::%s, %s, %s,\n"
                   % (c["ratio_level"], c["behav_mode"], num(c["lower"]),
                      num(c["dual_clip"])))
        for k in ("logp", "prox_logp", "behav_logp", "ref_logp"):
            out.append(" %s,\n" % vec(flat(c[k])))
        out.append(" %s,\n %s,\n %s,\n" % (vec(c["advantages"]), vec(flat(c["mask"])),
                                           vec(flat(c["entropy"]))))
        out.append(" {%s},\n" % ", ".join(num(c["expected"][k]) for k in STAT_ORDER))
        out.append(" %s},\n" % vec(flat(c["grad"])))
    return "".join(out)


def overlong_inc(cases):
    out = [HEADER, "// {length, max_new_tokens, buffer, penalty, expected}\n"]
    for c in cases:
        out.append("{%d, %d, %d, %s, %s},\n" % (c["length"], c["max_new_tokens"],
                                               c["buffer"], num(c["penalty"]),
                                               num(c["expected"])))
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
    overlong = overlong_cases()
    write("tests/data/grpo_reference.json",
          json.dumps({"generator": "tests/reference/grpo_reference.py",
                      "advantages": adv, "loss": loss, "overlong": overlong},
                     indent=1) + "\n")
    write("tests/models/advantages_reference_cases.inc", advantage_inc(adv))
    write("tests/models/grpo_loss_reference_cases.inc", loss_inc(loss))
    write("tests/tasks/overlong_penalty_reference_cases.inc", overlong_inc(overlong))


if __name__ == "__main__":
    main()
