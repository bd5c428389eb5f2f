#!/usr/bin/env python3
"""Reference side of `tandem bench learner`: tandem's GRPO optimizer step
written out independently in PyTorch eager, on transformers' model of the same
checkpoint, with the same batch, loss, AdamW and precision.

Input (--batch, written by tandem): one JSON header line (sizes, optimizer and
loss settings, model_dir, device, precision, micro_batch_rows, steps, warmup),
then little-endian int32 tokens [B, P+C], float32 behaviour log-probs [B, C],
float32 advantages [B].

One step, as tandem's learner_core does it:
  1. prox log-probs of every micro-batch, no grad, before the update;
  2. per micro-batch: forward, per-token loss, backward of
     (sum of the micro-batch's token losses) / (tokens of the whole step);
  3. clip the global grad norm, AdamW step.
Per-token loss (decoupled PPO, tandem's default; see docs/grpo.md §5):
  u  = exp(clamp(logp - prox, -20, 20))
  w  = min(exp(clamp(prox - behav, -20, 20)), behav_weight_cap)
  l  = max(-A u, -A clip(u, 1 - eps_low, 1 + eps_high)) * w
with token_mean aggregation; the entropy (statistic only) is computed too,
as tandem does every step.

Writes {"tokens_per_s", "step_s", "first_loss", "first_grad_norm", "about",
"peak_memory_gb"} to --out. Tokens/s counts B x (P + C) per step.
"""
import argparse
import json
import time

import torch
import transformers

MAX_LOG_RATIO = 20.0


def read_batch(path, device):
    with open(path, "rb") as f:
        h = json.loads(f.readline())
        b, p, c = h["rows"], h["prompt_len"], h["completion_len"]

        def take(n, dtype):
            data = bytearray(f.read(4 * n))
            if len(data) != 4 * n:
                raise SystemExit("torch_grpo_step: %s is truncated" % path)
            return torch.frombuffer(data, dtype=dtype)

        tokens = take(b * (p + c), torch.int32).reshape(b, p + c).long()
        behav = take(b * c, torch.float32).reshape(b, c)
        adv = take(b, torch.float32)
    return h, tokens.to(device), behav.to(device), adv.to(device)


def check_supported(h):
    unsupported = []
    if h["aggregation"] != "token_mean":
        unsupported.append("aggregation " + h["aggregation"])
    if h["kl_beta"] != 0:
        unsupported.append("kl_beta")
    if h["entropy_coef"] != 0:
        unsupported.append("entropy_coef")
    if unsupported:
        raise SystemExit("torch_grpo_step: not implemented: " + ", ".join(unsupported))


def load_model(h, device):
    kwargs = {"attn_implementation": "sdpa"}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            h["model_dir"], dtype=torch.float32, **kwargs)
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        model = transformers.AutoModelForCausalLM.from_pretrained(
            h["model_dir"], torch_dtype=torch.float32, **kwargs)
    model.to(device).train()
    if h["activation_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def completion_log_probs(model, ids, c, temperature):
    """Full log-softmax [b, C, V] at the C positions predicting the completion."""
    try:
        out = model(input_ids=ids, logits_to_keep=c + 1)
    except TypeError:  # transformers without logits_to_keep: all positions
        out = model(input_ids=ids)
    # Position P - 1 + t predicts completion token t; the last one predicts nothing.
    logits = out.logits[:, -(c + 1):-1].float() / temperature
    return torch.log_softmax(logits, dim=-1)


def token_losses(logp, prox, behav, adv, h):
    anchor = prox if h["decoupled"] else behav
    u = torch.exp(torch.clamp(logp - anchor, -MAX_LOG_RATIO, MAX_LOG_RATIO))
    a = adv.unsqueeze(1)
    clipped = torch.clamp(u, 1.0 - h["eps_low"], 1.0 + h["eps_high"])
    pg = torch.maximum(-a * u, -a * clipped)
    if h["decoupled"]:
        w = torch.exp(torch.clamp(prox - behav, -MAX_LOG_RATIO, MAX_LOG_RATIO))
        pg = pg * w.clamp(max=h["behav_weight_cap"])
    return pg


class grpo_step:
    def __init__(self, h, model, tokens, behav, adv):
        self.h, self.model = h, model
        self.p, self.c = h["prompt_len"], h["completion_len"]
        n = h["micro_batch_rows"]
        self.parts = [(tokens[i:i + n], behav[i:i + n], adv[i:i + n])
                      for i in range(0, tokens.shape[0], n)]
        self.total_tokens = float(behav.numel())
        self.opt = torch.optim.AdamW(model.parameters(), lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                                     eps=1e-8, weight_decay=h["weight_decay"])
        self.autocast = h["precision"] == "bf16_autocast"
        self.device_type = "cuda" if h["device"].startswith("cuda") else "cpu"

    def cast(self):
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.autocast)

    def log_probs(self, ids):
        lp = completion_log_probs(self.model, ids, self.c, self.h["temperature"])
        targets = ids[:, self.p:]
        return lp, lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    def __call__(self):
        with torch.no_grad(), self.cast():
            prox = [self.log_probs(ids)[1] for ids, _, _ in self.parts]
        self.opt.zero_grad(set_to_none=True)
        loss = 0.0
        for (ids, behav, adv), prox_k in zip(self.parts, prox):
            with self.cast():
                lp, logp = self.log_probs(ids)
                part = token_losses(logp, prox_k, behav, adv, self.h).sum() / self.total_tokens
            with torch.no_grad():
                entropy = -(lp.exp() * lp).sum(-1).mean()  # statistic, as tandem reports it
            loss += part.item()
            part.backward()
            del lp, logp, entropy
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.h["grad_clip"])
        self.opt.step()
        return loss, float(grad_norm)


def synchronize(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32, as in LibTorch
    with open(a.batch, "rb") as f:
        device = json.loads(f.readline())["device"]
    h, tokens, behav, adv = read_batch(a.batch, device)
    check_supported(h)
    step = grpo_step(h, load_model(h, device), tokens, behav, adv)
    first_loss = first_norm = None
    timed = 0.0
    for k in range(h["warmup"] + h["steps"]):
        synchronize(device)
        t0 = time.perf_counter()
        loss, norm = step()
        synchronize(device)
        if k >= h["warmup"]:
            timed += time.perf_counter() - t0
        if k == 0:
            first_loss, first_norm = loss, norm
    step_s = timed / h["steps"]
    tokens_per_s = tokens.numel() / step_s
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    about = "PyTorch %s, transformers %s, %s, %s, peak %.1f GiB" % (
        torch.__version__, transformers.__version__, name, h["precision"], peak)
    with open(a.out, "w") as f:
        json.dump({"tokens_per_s": tokens_per_s, "step_s": step_s, "first_loss": first_loss,
                   "first_grad_norm": first_norm, "about": about, "peak_memory_gb": peak}, f)
    print("torch_grpo_step: %.1f tokens/s, %.3f s/step, first loss %.9g (%s)"
          % (tokens_per_s, step_s, first_loss, about))


if __name__ == "__main__":
    main()
