#!/usr/bin/env python3
"""Check that a run's Hugging Face copies load in transformers and compute
what tandem computes (run on the GPU machine, where torch and transformers
are installed; the CPU is enough):

    python3 tests/reference/check_hf_export.py BUILD/app/tandem WORKDIR [--device cpu|cuda]
                                               [--tolerance 1e-4] [--steps 8]

1. Fixture: tests/data/hf/tiny-qwen2 (Qwen2 layout, tied embeddings, q/k/v
   biases, vocab 384) copied to WORKDIR with the files a chat model ships:
   tokenizer_config.json holding a chat template, and generation_config.json.
2. Run: configs/debug/hf-tiny.yaml pointed at that fixture, --steps N with a
   checkpoint every N/2 steps and an entropy bonus (the untrained fixture
   earns no reward, so without it no weight would move). The run must end
   with RUN/hf and RUN/checkpoints/step-*/hf.
3. For every copy: transformers.AutoModelForCausalLM.from_pretrained in
   float32 (TF32 off) and AutoTokenizer.from_pretrained (its chat template
   must render); logits of fixed token ids against `tandem logits --model
   COPY` (tandem's CPU forward). Pass: max abs diff <= --tolerance (tandem's
   own CPU test measures ~1.5e-7 on this fixture). The copy's logits must
   also differ from the fixture's (training moved the weights; otherwise
   the comparison would prove nothing).
4. `tandem generate RUN/hf --prompt 3+4= --n 2` exits 0 and prints both
   completions; transformers' greedy continuation and tandem's
   (--temperature 0) are printed side by side (informational: an untrained
   model's near-ties may break differently under float rounding).
Prints one "HF-EXPORT-CHECK name: PASS|FAIL figures" line per check and
exits 1 if any failed (2 on a usage or setup error).
"""
import argparse
import array
import glob
import json
import os
import shutil
import subprocess
import sys

import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
IDS = [3, 17, 42, 99, 120, 7, 255, 300, 11, 64, 128, 383]
CHAT_TEMPLATE = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] "
                 "+ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|im_start|>assistant\\n' }}{% endif %}")
failed = []


def report(name, ok, figures):
    if not ok:
        failed.append(name)
    print("HF-EXPORT-CHECK %s: %s %s" % (name, "PASS" if ok else "FAIL",
                                         " ".join("%s=%s" % kv for kv in figures.items())),
          flush=True)


def tandem(binary, *args, timeout=600):
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("tandem %s failed (%d): %s" % (args[0], r.returncode,
                                                          (r.stdout + r.stderr)[-2000:]))
    return r.stdout


def make_fixture(work):
    d = os.path.join(work, "tiny-qwen2-chat")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(os.path.join(DATA, "hf", "tiny-qwen2"), d)
    shutil.copy(os.path.join(DATA, "hf", "tokenizer-qwen2", "tokenizer.json"), d)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
                   "pad_token": "<|endoftext|>", "chat_template": CHAT_TEMPLATE}, f)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": 2, "do_sample": True}, f)
    return d


def run_config(work, fixture, steps):
    with open(os.path.join(ROOT, "configs", "debug", "hf-tiny.yaml")) as f:
        text = f.read()
    for old, new in [("../../tests/data/hf/tiny-qwen2", fixture),
                     ("../../tests/data", DATA),
                     ("steps: 200,", "steps: %d, checkpoint_every: %d," % (steps, max(1, steps // 2))),
                     ("learner: {lr: 0.001}", "learner: {lr: 0.001, entropy_coef: 0.01}")]:
        if old not in text:
            sys.exit("configs/debug/hf-tiny.yaml no longer holds %r" % old)
        text = text.replace(old, new)
    path = os.path.join(work, "hf-tiny.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def tandem_logits(binary, model, work):
    out = os.path.join(work, "logits.bin")
    tandem(binary, "logits", "--model", model, "--ids", ",".join(map(str, IDS)), "--out", out)
    values = array.array("f")
    with open(out, "rb") as f:
        values.frombytes(f.read())
    return torch.tensor(values, dtype=torch.float64).reshape(len(IDS), -1)


def hf_logits(model_dir, device):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = model.to(device).eval()
    with torch.no_grad():
        out = model(torch.tensor([IDS], device=device)).logits[0]
    return model, out.double().cpu()


def check_copy(binary, copy, fixture_logits, args):
    name = os.path.relpath(copy, args.work)
    tok = None
    try:
        tok = transformers.AutoTokenizer.from_pretrained(copy)
        chat = tok.apply_chat_template([{"role": "user", "content": "3+4="}], tokenize=False,
                                       add_generation_prompt=True)
        report(name + " tokenizer", chat.endswith("<|im_start|>assistant\n"),
               {"chat_template": json.dumps(chat)})
    except Exception as e:  # report it and go on to the logits
        report(name + " tokenizer", False, {"error": json.dumps(repr(e)[-300:])})
    model, ref = hf_logits(copy, args.device)
    ours = tandem_logits(binary, copy, args.work)
    diff = (ours - ref).abs().max().item()
    moved = (ref - fixture_logits).abs().max().item()
    report(name + " logits", ref.shape == ours.shape and diff <= args.tolerance and moved > 0,
           {"max_abs_diff": "%.3g" % diff, "tolerance": args.tolerance,
            "moved_from_fixture": "%.3g" % moved})
    return model, tok


def generate(binary, run_dir, model, tok, device):
    out = tandem(binary, "generate", os.path.join(run_dir, "hf"), "--prompt", "3+4=", "--n", "2")
    report("tandem generate", "completion 1 of 2" in out and "completion 2 of 2" in out,
           {"output": json.dumps(out[-300:])})
    greedy = tandem(binary, "generate", os.path.join(run_dir, "hf"), "--prompt", "3+4=",
                    "--temperature", "0", "--max-new-tokens", "8")
    print("greedy, tandem:       %r" % greedy.splitlines()[-1])
    if tok is None:
        return
    try:  # informational: near-ties of an untrained model may break differently
        ids = tok("3+4=<answer>", return_tensors="pt").input_ids.to(device)
        with torch.no_grad():
            ref = model.generate(ids, do_sample=False, max_new_tokens=8, pad_token_id=0)
        print("greedy, transformers: %r" % tok.decode(ref[0, ids.shape[1]:]))
    except Exception as e:
        print("greedy, transformers: not run (%r)" % e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("work")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.work, exist_ok=True)
    fixture = make_fixture(args.work)
    cfg = run_config(args.work, fixture, args.steps)
    run_dir = os.path.join(args.work, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    tandem(args.binary, "run", cfg, "--output", run_dir, "--quiet")
    copies = [os.path.join(run_dir, "hf")] + sorted(
        glob.glob(os.path.join(run_dir, "checkpoints", "step-*", "hf")))
    report("copies written", len(copies) >= 3 and all(os.path.isdir(c) for c in copies),
           {"copies": len(copies)})
    _, fixture_logits = hf_logits(fixture, args.device)
    loaded = [check_copy(args.binary, c, fixture_logits, args) for c in copies]
    model, tok = loaded[0] # RUN/hf, the final weights
    generate(args.binary, run_dir, model, tok, args.device)
    print("HF-EXPORT-CHECK: %d failed" % len(failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
