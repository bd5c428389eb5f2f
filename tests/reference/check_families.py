#!/usr/bin/env python3
"""transformers against tandem's float64 references for the model families.

    python3 tests/reference/check_families.py [FIXTURE_ROOT]   # default tests/data/hf

Loads FIXTURE_ROOT/family-llama31, family-qwen3 and family-mistral (written by
tests/reference/make_family_fixtures.py) with transformers'
AutoModelForCausalLM in float32, runs the input ids of FIXTURE_ROOT/
families.json and prints one line per family:

    PASS family-qwen3 max|diff|=3.1e-06 (Qwen3ForCausalLM, transformers 5.x)

A FAIL means the pure-Python reference (and so the C++ test that uses it)
does not compute what transformers computes for that family. Exit status 1
if any family fails. Needs torch and transformers; no hub access.
"""
import json
import os
import sys

import torch
import transformers

TOLERANCE = 1e-4  # fp32 transformers vs the float64 reference; logits reach ~25


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "data", "hf")
    with open(os.path.join(root, "families.json")) as f:
        expected = json.load(f)["models"]
    failed = False
    for name, ref in expected.items():
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(
                os.path.join(root, name), torch_dtype=torch.float32).eval()
            with torch.no_grad():
                logits = model(torch.tensor([ref["input_ids"]])).logits[0].double()
            diff = (logits - torch.tensor(ref["logits"], dtype=torch.float64)).abs().max().item()
            ok = diff < TOLERANCE
            print("%s %s max|diff|=%.3g (%s, transformers %s)" % (
                "PASS" if ok else "FAIL", name, diff, type(model).__name__,
                transformers.__version__))
        except Exception as e:  # report every family, not only the first failure
            ok = False
            print("FAIL %s %s: %s" % (name, type(e).__name__, e))
        failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
