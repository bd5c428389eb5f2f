#!/usr/bin/env python3
"""Reference side of `tandem bench decode`: Hugging Face transformers'
generate() on the same checkpoint, prompts and GPU.

Samples every token from the full distribution (temperature 1, top_p 1,
top_k 0) and generates exactly --new-tokens per sequence, as tandem does.
One short warm-up call, then one timed call. Writes
{"tokens_per_s", "seconds", "tokens", "torch", "transformers"} to --out.
"""
import argparse
import json
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--new-tokens", type=int, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[a.dtype]
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).to(a.device).eval()
    with open(a.prompts) as f:
        prompts = json.load(f)["prompts"]
    ids = torch.tensor(prompts, device=a.device)
    mask = torch.ones_like(ids)

    def generate(n):
        torch.manual_seed(0)
        with torch.inference_mode():
            return model.generate(input_ids=ids, attention_mask=mask, do_sample=True,
                                  temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=n,
                                  min_new_tokens=n, pad_token_id=0, eos_token_id=None)

    generate(min(16, a.new_tokens))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = generate(a.new_tokens)
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    tokens = (out.shape[1] - ids.shape[1]) * ids.shape[0]
    with open(a.out, "w") as f:
        json.dump({"tokens_per_s": tokens / secs, "seconds": secs, "tokens": tokens,
                   "torch": torch.__version__, "transformers": transformers.__version__}, f)
    print("transformers generate: %d tokens in %.2f s = %.0f tokens/s" % (tokens, secs, tokens / secs))


if __name__ == "__main__":
    main()
