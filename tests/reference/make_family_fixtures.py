#!/usr/bin/env python3
"""Tiny Llama 3.1, Qwen3 and Mistral checkpoints with reference logits,
made with the Python standard library only (no torch, no transformers).

    python3 tests/reference/make_family_fixtures.py [OUT_DIR]   # default tests/data/hf
    python3 tests/reference/make_family_fixtures.py --self-check

--self-check runs the reference forward on tests/data/hf/tiny-llama (made by
transformers, see make_hf_fixtures.py) and compares it with that model's
transformers logits in expected.json: the shared parts of the forward
(RMSNorm, rotary, grouped-query attention, SwiGLU, lm_head) are checked
against transformers without needing it here.

Writes, under OUT_DIR:
  family-llama31/   LlamaForCausalLM, rope_scaling llama3 (factor 4, low 1,
                    high 4, original_max_position_embeddings 32, head_dim 16,
                    theta 1e4: the remap keeps 1 of the 8 frequencies, divides
                    6 by the factor and interpolates 1), tied embeddings as
                    Llama 3.2 1B / 3B have them
  family-qwen3/     Qwen3ForCausalLM, head_dim 24 != hidden 64 / 4 heads,
                    random q_norm / k_norm gains, tied embeddings
  family-mistral/   MistralForCausalLM, sliding_window 64 = max_position_embeddings
  families.json     per model: input_ids and float64 logits [10][384]; for
                    family-llama31 also its rotary inverse frequencies

Each model.safetensors is written by hand (8-byte little-endian header
length, JSON header, raw little-endian float32), its weights drawn from a
seeded random.Random, so the output is the same on every machine. The
reference forward below computes in float64 from the float32-rounded weights
what transformers' modeling_llama / modeling_qwen3 / modeling_mistral compute
(RMSNorm, rotary with rotate_half, grouped-query causal attention, SwiGLU,
final norm, lm_head or the tied embedding). tests/reference/check_families.py
checks transformers against families.json on a machine that has it.
"""
import json
import math
import os
import random
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--self-check" else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data", "hf")
VOCAB = 384
INPUT_IDS = [1, 17, 250, 3, 99, 383, 42, 7, 0, 200]

FAMILIES = {
    "family-llama31": dict(
        seed=31, model_type="llama", arch="LlamaForCausalLM", hidden=64, inter=64, layers=2,
        heads=4, kv_heads=2, head_dim=None, max_pos=128, theta=10000.0, eps=1e-5, tie=True,
        rope_scaling=dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0,
                          high_freq_factor=4.0, original_max_position_embeddings=32)),
    "family-qwen3": dict(
        seed=3, model_type="qwen3", arch="Qwen3ForCausalLM", hidden=64, inter=64, layers=2,
        heads=4, kv_heads=2, head_dim=24, max_pos=64, theta=1000000.0, eps=1e-6, tie=True),
    "family-mistral": dict(
        seed=7, model_type="mistral", arch="MistralForCausalLM", hidden=32, inter=64,
        layers=2, heads=4, kv_heads=2, head_dim=None, max_pos=64, theta=10000.0, eps=1e-5,
        tie=False, sliding_window=64),
}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def head_dim(c):
    return c["head_dim"] or c["hidden"] // c["heads"]


# --- weights ------------------------------------------------------------------

def make_weights(c):
    """HF name -> (shape, flat list of float32-representable floats)."""
    rng = random.Random(c["seed"])
    hd, h = head_dim(c), c["hidden"]
    w = {}

    def matrix(name, rows, cols, std):
        w[name] = ([rows, cols], [f32(rng.gauss(0.0, std)) for _ in range(rows * cols)])

    def gain(name, n, spread):
        w[name] = ([n], [f32(1.0 + rng.gauss(0.0, spread)) for _ in range(n)])

    matrix("model.embed_tokens.weight", VOCAB, h, 0.5)
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        matrix(p + "self_attn.q_proj.weight", c["heads"] * hd, h, 0.15)
        matrix(p + "self_attn.k_proj.weight", c["kv_heads"] * hd, h, 0.15)
        matrix(p + "self_attn.v_proj.weight", c["kv_heads"] * hd, h, 0.1)
        matrix(p + "self_attn.o_proj.weight", h, c["heads"] * hd, 0.1)
        if c["model_type"] == "qwen3":
            gain(p + "self_attn.q_norm.weight", hd, 0.2)
            gain(p + "self_attn.k_norm.weight", hd, 0.2)
        matrix(p + "mlp.gate_proj.weight", c["inter"], h, 0.1)
        matrix(p + "mlp.up_proj.weight", c["inter"], h, 0.1)
        matrix(p + "mlp.down_proj.weight", h, c["inter"], 0.1)
        gain(p + "input_layernorm.weight", h, 0.1)
        gain(p + "post_attention_layernorm.weight", h, 0.1)
    gain("model.norm.weight", h, 0.1)
    if not c["tie"]:
        matrix("lm_head.weight", VOCAB, h, 0.1)
    return w


def write_safetensors(path, weights):
    header, offset, blobs = {}, 0, []
    for name in sorted(weights):
        shape, values = weights[name]
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def config_json(c):
    """config.json as the families' published checkpoints spell it."""
    out = {
        "architectures": [c["arch"]],
        "model_type": c["model_type"],
        "hidden_act": "silu",
        "hidden_size": c["hidden"],
        "intermediate_size": c["inter"],
        "num_hidden_layers": c["layers"],
        "num_attention_heads": c["heads"],
        "num_key_value_heads": c["kv_heads"],
        "max_position_embeddings": c["max_pos"],
        "rms_norm_eps": c["eps"],
        "rope_theta": c["theta"],
        "tie_word_embeddings": c["tie"],
        "vocab_size": VOCAB,
        "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "use_cache": True,
        "torch_dtype": "float32",
    }
    if c["model_type"] == "llama":
        out.update(attention_bias=False, mlp_bias=False, head_dim=head_dim(c),
                   rope_scaling=c.get("rope_scaling"))
    if c["model_type"] == "qwen3":
        out.update(attention_bias=False, head_dim=c["head_dim"], use_sliding_window=False,
                   sliding_window=None, max_window_layers=c["layers"], rope_scaling=None)
    if c["model_type"] == "mistral":
        out.update(sliding_window=c["sliding_window"])
    return out


# --- float64 reference forward ------------------------------------------------

def inv_freq(c):
    hd = head_dim(c)
    base = [1.0 / (c["theta"] ** (i / hd)) for i in range(0, hd, 2)]
    s = c.get("rope_scaling")
    if not s:
        return base
    # transformers' _compute_llama3_parameters, one frequency at a time.
    old = s["original_max_position_embeddings"]
    low_wavelen = old / s["low_freq_factor"]
    high_wavelen = old / s["high_freq_factor"]
    out = []
    for f in base:
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / s["factor"])
        else:
            smooth = (old / wavelen - s["low_freq_factor"]) / (
                s["high_freq_factor"] - s["low_freq_factor"])
            out.append((1 - smooth) * f / s["factor"] + smooth * f)
    return out


def matvec(w, x):
    (rows, cols), v = w
    return [sum(v[r * cols + j] * x[j] for j in range(cols)) for r in range(rows)]


def rms_norm(x, gain, eps):
    scale = 1.0 / math.sqrt(sum(t * t for t in x) / len(x) + eps)
    return [t * scale * g for t, g in zip(x, gain[1])]


def rotate(x, pos, freqs):
    half = len(x) // 2
    out = list(x)
    for j in range(half):
        cos, sin = math.cos(pos * freqs[j]), math.sin(pos * freqs[j])
        out[j] = x[j] * cos - x[j + half] * sin
        out[j + half] = x[j + half] * cos + x[j] * sin
    return out


def split_heads(v, n, hd):
    return [v[i * hd:(i + 1) * hd] for i in range(n)]


def attention(c, w, p, xs, freqs):
    hd, nh, nkv = head_dim(c), c["heads"], c["kv_heads"]
    qs, ks, vs = [], [], []
    for pos, x in enumerate(xs):
        q = split_heads(matvec(w[p + "q_proj.weight"], x), nh, hd)
        k = split_heads(matvec(w[p + "k_proj.weight"], x), nkv, hd)
        if c["model_type"] == "qwen3":  # per-head RMSNorm before rotary
            q = [rms_norm(t, w[p + "q_norm.weight"], c["eps"]) for t in q]
            k = [rms_norm(t, w[p + "k_norm.weight"], c["eps"]) for t in k]
        qs.append([rotate(t, pos, freqs) for t in q])
        ks.append([rotate(t, pos, freqs) for t in k])
        vs.append(split_heads(matvec(w[p + "v_proj.weight"], x), nkv, hd))
    rep, out = nh // nkv, []
    for i in range(len(xs)):
        heads = []
        for h in range(nh):
            g = h // rep
            scores = [sum(a * b for a, b in zip(qs[i][h], ks[j][g])) / math.sqrt(hd)
                      for j in range(i + 1)]
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            total = sum(e)
            heads += [sum(e[j] / total * vs[j][g][d] for j in range(i + 1)) for d in range(hd)]
        out.append(matvec(w[p + "o_proj.weight"], heads))
    return out


def mlp(w, p, x):
    gate = matvec(w[p + "gate_proj.weight"], x)
    up = matvec(w[p + "up_proj.weight"], x)
    return matvec(w[p + "down_proj.weight"],
                  [g / (1.0 + math.exp(-g)) * u for g, u in zip(gate, up)])


def forward(c, w, ids):
    h = c["hidden"]
    emb = w["model.embed_tokens.weight"][1]
    xs = [emb[t * h:(t + 1) * h] for t in ids]
    freqs = inv_freq(c)
    for i in range(c["layers"]):
        p = f"model.layers.{i}."
        normed = [rms_norm(x, w[p + "input_layernorm.weight"], c["eps"]) for x in xs]
        a = attention(c, w, p + "self_attn.", normed, freqs)
        xs = [[s + t for s, t in zip(x, y)] for x, y in zip(xs, a)]
        m = [mlp(w, p + "mlp.", rms_norm(x, w[p + "post_attention_layernorm.weight"], c["eps"]))
             for x in xs]
        xs = [[s + t for s, t in zip(x, y)] for x, y in zip(xs, m)]
    head = w["model.embed_tokens.weight" if c["tie"] else "lm_head.weight"]
    return [matvec(head, rms_norm(x, w["model.norm.weight"], c["eps"])) for x in xs]


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", name
        begin, end = e["data_offsets"]
        data = blob[8 + n + begin:8 + n + end]
        out[name] = (e["shape"], list(struct.unpack("<%df" % (len(data) // 4), data)))
    return out


def self_check():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "hf")
    with open(os.path.join(root, "tiny-llama", "config.json")) as f:
        hf = json.load(f)
    theta = hf.get("rope_theta") or hf["rope_parameters"]["rope_theta"]
    c = dict(model_type="llama", hidden=hf["hidden_size"], inter=hf["intermediate_size"],
             layers=hf["num_hidden_layers"], heads=hf["num_attention_heads"],
             kv_heads=hf["num_key_value_heads"], head_dim=None, theta=theta,
             eps=hf["rms_norm_eps"], tie=hf["tie_word_embeddings"])
    w = read_safetensors(os.path.join(root, "tiny-llama", "model.safetensors"))
    with open(os.path.join(root, "expected.json")) as f:
        ref = json.load(f)["models"]["tiny-llama"]
    got = forward(c, w, ref["input_ids"])
    diff = max(abs(a - b) for ra, rb in zip(got, ref["logits"]) for a, b in zip(ra, rb))
    ok = diff < 1e-6
    print("%s reference forward vs transformers on tiny-llama: max|diff| = %.3g"
          % ("PASS" if ok else "FAIL", diff))
    sys.exit(0 if ok else 1)


def main():
    expected = {"generator": "tests/reference/make_family_fixtures.py (float64 reference)",
                "models": {}}
    for name, c in FAMILIES.items():
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        w = make_weights(c)
        write_safetensors(os.path.join(d, "model.safetensors"), w)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config_json(c), f, indent=2)
            f.write("\n")
        logits = forward(c, w, INPUT_IDS)
        entry = {"input_ids": INPUT_IDS,
                 "logits": [[float("%.9g" % x) for x in row] for row in logits]}
        if c.get("rope_scaling"):
            entry["rope_inv_freq"] = [float("%.12g" % x) for x in inv_freq(c)]
        expected["models"][name] = entry
        print(name, "max |logit| = %.3f" % max(abs(x) for row in logits for x in row))
    with open(os.path.join(OUT, "families.json"), "w") as f:
        json.dump(expected, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    self_check() if "--self-check" in sys.argv else main()
