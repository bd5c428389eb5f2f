#!/usr/bin/env python3
"""Reference checks of tandem against Hugging Face transformers and tokenizers
(run on the GPU machine, where both are installed):

    python3 tests/reference/gpu_reference_check.py BUILD/app/tandem WORKDIR

1. Logits, float32: random Llama and Qwen2 checkpoints (4 layers, hidden 512,
   GQA 8/2, vocab 8192; Qwen2 with q/k/v biases and tied embeddings; biases
   and norm gains perturbed) saved with save_pretrained. transformers on the
   GPU in float32 (TF32 off) against
     a. tandem's CPU forward (`tandem logits`), every position;
     b. tandem's GPU decoding path (`tandem logits --device cuda --dtype
        float32 --prefill 16`: prefill, then one teacher-forced decode step per
        token through the KV cache), positions 15..47.
   Pass: max abs diff <= 1e-4.
2. Logits, bfloat16: both sides in bf16 on the GPU. The figure is stated: max
   abs diff between the two bf16 runs, and each one's error against the
   float32 logits. Pass: tandem's bf16 error against float32 is no worse
   than 1.5x transformers' own bf16 error.
3. Tokenization: byte-level BPE tokenizers trained here with the Qwen2 layout
   (NFC + Qwen2 split regex + ByteLevel), the Llama-3 split regex and the
   GPT-2 layout; a varied sample (several scripts, decomposed accents,
   emoji with ZWJ, digits of several systems, whitespace runs, CRLF, special
   tokens inline) encoded by `tokenizers` and by `tandem tokenize`. Pass:
   identical ids for every text.
Prints one "REFERENCE-CHECK name: PASS|FAIL figures" line per check and writes
WORKDIR/reference_check.json; exit status 1 if any check failed.
"""
import json
import os
import random
import subprocess
import sys

import numpy as np
import tokenizers
import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

BIN, WORK = sys.argv[1], sys.argv[2]
VOCAB = 8192
SEQ = 48
PREFILL = 16
results = {}


def report(name, ok, figures):
    results[name] = {"pass": bool(ok), **figures}
    print("REFERENCE-CHECK %s: %s %s" % (name, "PASS" if ok else "FAIL",
                                          " ".join("%s=%s" % kv for kv in figures.items())),
          flush=True)


def tandem(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("tandem %s failed (%d): %s" % (args[0], r.returncode, r.stderr[-2000:]))
    return r.stdout


def rope_kwargs(theta, scaling=None):
    """rope_theta / rope_scaling for transformers 4, rope_parameters for 5."""
    if int(transformers.__version__.split(".")[0]) >= 5:
        return dict(rope_parameters=dict(scaling or {"rope_type": "default"}, rope_theta=theta))
    return dict(rope_theta=theta, rope_scaling=scaling)


def make_model(kind, seed):
    torch.manual_seed(seed)
    common = dict(vocab_size=VOCAB, hidden_size=512, intermediate_size=1408, num_hidden_layers=4,
                  num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=512,
                  rms_norm_eps=1e-6)
    if kind == "llama":
        cfg = transformers.LlamaConfig(rope_theta=500000.0, tie_word_embeddings=False, **common)
        model = transformers.LlamaForCausalLM(cfg)
    elif kind == "llama31":  # llama3 rope scaling: kept, interpolated and divided frequencies
        scaling = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                       original_max_position_embeddings=64)
        cfg = transformers.LlamaConfig(tie_word_embeddings=True, **common,
                                       **rope_kwargs(500000.0, scaling))
        model = transformers.LlamaForCausalLM(cfg)
    elif kind == "qwen3":  # q/k norms (perturbed below), head_dim 128 != 512 / 8
        cfg = transformers.Qwen3Config(head_dim=128, tie_word_embeddings=True,
                                       use_sliding_window=False, **common,
                                       **rope_kwargs(1000000.0))
        model = transformers.Qwen3ForCausalLM(cfg)
    elif kind == "mistral":  # sliding_window = max_position_embeddings: full attention
        cfg = transformers.MistralConfig(sliding_window=512, tie_word_embeddings=False, **common,
                                         **rope_kwargs(10000.0))
        model = transformers.MistralForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(rope_theta=1000000.0, tie_word_embeddings=True, **common)
        model = transformers.Qwen2ForCausalLM(cfg)
    model = model.float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    path = os.path.join(WORK, kind)
    model.save_pretrained(path, safe_serialization=True)
    return model, path


def hf_logits(model, ids, dtype):
    m = model.to("cuda", dtype=dtype)
    with torch.no_grad():
        out = m(torch.tensor([ids], device="cuda")).logits[0].float().cpu().numpy()
    model.to("cpu", dtype=torch.float32)
    return out


def tandem_logits(path, ids, *extra):
    out = os.path.join(WORK, "logits.bin")
    tandem("logits", "--model", path, "--ids", ",".join(map(str, ids)), "--out", out, *extra)
    return np.fromfile(out, dtype=np.float32).reshape(-1, VOCAB)


def check_logits(kind, seed):
    model, path = make_model(kind, seed)
    rng = random.Random(seed)
    ids = [rng.randrange(VOCAB) for _ in range(SEQ)]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ref32 = hf_logits(model, ids, torch.float32)
    cpu = tandem_logits(path, ids)
    d_cpu = float(np.abs(cpu - ref32).max())
    report(kind + "_fp32_cpu_forward", d_cpu <= 1e-4, {"max_abs_diff": "%.2e" % d_cpu})
    gpu32 = tandem_logits(path, ids, "--device", "cuda", "--dtype", "float32",
                          "--prefill", str(PREFILL))
    d_gpu = float(np.abs(gpu32 - ref32[PREFILL - 1:]).max())
    report(kind + "_fp32_gpu_decode", d_gpu <= 1e-4, {"max_abs_diff": "%.2e" % d_gpu})
    ref16 = hf_logits(model, ids, torch.bfloat16)[PREFILL - 1:]
    ours16 = tandem_logits(path, ids, "--device", "cuda", "--dtype", "bfloat16",
                           "--prefill", str(PREFILL))
    truth = ref32[PREFILL - 1:]
    e_hf = float(np.abs(ref16 - truth).max())
    e_ours = float(np.abs(ours16 - truth).max())
    d = float(np.abs(ours16 - ref16).max())
    agree = float((ours16.argmax(-1) == ref16.argmax(-1)).mean())
    report(kind + "_bf16_gpu_decode", e_ours <= 1.5 * e_hf,
           {"tandem_vs_transformers_bf16": "%.3f" % d, "tandem_bf16_vs_fp32": "%.3f" % e_ours,
            "transformers_bf16_vs_fp32": "%.3f" % e_hf, "argmax_agreement": "%.3f" % agree,
            "logit_std": "%.2f" % float(truth.std())})


QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÉÎÕÜŁłŒœ",
    "e\u0301a\u0300o\u0308n\u0303",                       # decomposed accents (NFC)
    "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔ", "абвгдеёжзийклмнопрстуфхцчшщъыьэюяЖЩ",
    "数学很有趣计算東京タワーひらがなカタカナ한국어",
    "مرحبابالعالم", "नमस्तेदुनिया",
    "0123456789", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "½²³⅓",
    "🙂🚀👍🏽👨\u200d👩\u200d👧❤️",
    " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028",
    ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    "'s", "'T", "'re", "'LL", "'ve", "'d", "'M",
]


def corpus(rng, n):
    out = []
    for _ in range(n):
        k = rng.randrange(1, 12)
        out.append("".join(rng.choice(rng.choice(POOLS)) * rng.randrange(1, 4) for _ in range(k)))
    return out


def train(kind, texts):
    tok = Tokenizer(models.BPE())
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    if kind in ("qwen2", "llama3"):
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2 if kind == "qwen2" else LLAMA3), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4000, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def check_tokenizers():
    rng = random.Random(5)
    train_texts = corpus(rng, 20000)
    sample = corpus(rng, 400) + [
        "Hello world! It's 2026-11-30, 07:05.", "   leading and trailing   ", "",
        "tabs\there\r\n\r\nCRLF  \n  ", "<|im_start|>user\nWhat is 3+4?<|im_end|>\n",
        "I'LL see, YOU'VE got it, she'd know", "12345678901234567890", "x" * 300,
        "Cafe\u0301 vs Café", "👨\u200d👩\u200d👧 family",
    ]
    path_in = os.path.join(WORK, "texts.json")
    with open(path_in, "w") as f:
        json.dump(sample, f, ensure_ascii=False)
    for kind in ("qwen2", "llama3", "gpt2"):
        tok = train(kind, train_texts)
        tj = os.path.join(WORK, "tokenizer-%s.json" % kind)
        tok.save(tj)
        out = os.path.join(WORK, "ids-%s.json" % kind)
        tandem("tokenize", "--tokenizer", tj, "--input", path_in, "--out", out)
        with open(out) as f:
            ours = json.load(f)
        theirs = [tok.encode(t, add_special_tokens=False).ids for t in sample]
        bad = [i for i in range(len(sample)) if ours[i] != theirs[i]]
        figures = {"texts": len(sample), "tokens": sum(map(len, theirs)), "mismatches": len(bad)}
        if bad:
            figures["first"] = repr(sample[bad[0]])[:80]
        report("tokenizer_" + kind, not bad, figures)


def main():
    os.makedirs(WORK, exist_ok=True)
    print("torch %s, transformers %s, tokenizers %s, %s" % (
        torch.__version__, transformers.__version__, tokenizers.__version__,
        torch.cuda.get_device_name(0)), flush=True)
    for kind, seed in (("llama", 1), ("qwen2", 2), ("llama31", 31), ("qwen3", 3), ("mistral", 7)):
        check_logits(kind, seed)
    check_tokenizers()
    with open(os.path.join(WORK, "reference_check.json"), "w") as f:
        json.dump(results, f, indent=1)
    failed = [k for k, v in results.items() if not v["pass"]]
    print("REFERENCE-CHECK summary: %d passed, %d failed %s" % (
        len(results) - len(failed), len(failed), failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
