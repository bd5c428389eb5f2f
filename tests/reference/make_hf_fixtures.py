#!/usr/bin/env python3
"""Make the Hugging Face fixtures that tandem's CPU tests read.

Run on a machine with torch, transformers, tokenizers and safetensors (no hub
access needed: everything is random-initialised or trained here):

    python3 tests/reference/make_hf_fixtures.py OUT_DIR

Writes, under OUT_DIR:
  tokenizer-gpt2/tokenizer.json   byte-level BPE, GPT-2 pre-tokenizer regex
  tokenizer-qwen2/tokenizer.json  byte-level BPE, Qwen2 Split regex + ByteLevel
  tiny-llama/                     LlamaForCausalLM, fp32, one safetensors file
  tiny-llama-sharded/             the same weights in 3+ shards + index json
  tiny-qwen2/                     Qwen2ForCausalLM (q/k/v bias, tied embeddings)
  tiny-llama31/                   LlamaForCausalLM with rope_scaling llama3 (head_dim
                                  16, original_max_position_embeddings 32, factor 4,
                                  low 1, high 4: some frequencies kept, some divided,
                                  one interpolated)
  tiny-qwen3/                     Qwen3ForCausalLM (head_dim 24 != 64 / 4 heads,
                                  q_norm / k_norm gains perturbed, tied embeddings)
  tiny-mistral/                   MistralForCausalLM (sliding_window 64 =
                                  max_position_embeddings: full attention)
  expected.json                   token ids for a varied text sample per
                                  tokenizer, and fp32 logits per model
"""
import json
import os
import sys

import torch
import tokenizers
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

OUT = sys.argv[1] if len(sys.argv) > 1 else "hf-fixtures"
VOCAB = 384
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 12:45 and we're late!",
    "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))",
    "Naïve café résumé — déjà vu; Straße, Ελληνικά, русский текст.",
    "数学很有趣。计算 17 + 25 = 42。東京タワー",
    "Emoji 🙂🚀 and tabs\tand   runs    of spaces\r\nCRLF lines\n\n",
    "<answer>3 + 4 = 7</answer> 1234567890 3.14159 -42 1e-5",
    "I'll, you've, she'd, THEY'RE, it'S: contractions in CAPS too.",
]
SAMPLE = [
    "Hello world! It's 2026-11-30, 07:05.",
    "   leading spaces and trailing   ",
    "tabs\there\tand\nnew\n\nlines\r\n",
    "Ünïcödé: café, naïve, Straße; 数学 东京 🙂🚀👍🏽",
    "digits 1234567 and 3.14 and -0.5e10",
    "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n<answer>7</answer><|endoftext|>",
    "WE'LL see, you'D think; it's O'Neil's.",
    "",
    " ",
    "\n\n\n",
    "mixed\u00a0nbsp and \u3000 ideographic space",
    "x" * 40,
]


def train_tokenizer(kind):
    tok = Tokenizer(models.BPE())
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    return tok


LLAMA3_SCALING = dict(rope_type="llama3", factor=4.0, low_freq_factor=1.0, high_freq_factor=4.0,
                      original_max_position_embeddings=32)


def rope_kwargs(theta, scaling=None):
    """rope_theta / rope_scaling as transformers 4 takes them, rope_parameters for 5."""
    if int(transformers.__version__.split(".")[0]) >= 5:
        return dict(rope_parameters=dict(scaling or {"rope_type": "default"}, rope_theta=theta))
    return dict(rope_theta=theta, rope_scaling=scaling)


def model_config(kind, vocab):
    common = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=64, rms_norm_eps=1e-6)
    wide = dict(common, hidden_size=64, max_position_embeddings=128)
    if kind == "llama":
        return transformers.LlamaConfig(rope_theta=10000.0, tie_word_embeddings=False, **common)
    if kind == "llama31":
        return transformers.LlamaConfig(tie_word_embeddings=True, **dict(wide, rms_norm_eps=1e-5),
                                        **rope_kwargs(10000.0, LLAMA3_SCALING))
    if kind == "qwen3":
        return transformers.Qwen3Config(head_dim=24, tie_word_embeddings=True,
                                        attention_bias=False, use_sliding_window=False,
                                        **dict(wide, max_position_embeddings=64),
                                        **rope_kwargs(1000000.0))
    if kind == "mistral":
        return transformers.MistralConfig(sliding_window=64, tie_word_embeddings=False,
                                          **dict(common, rms_norm_eps=1e-5),
                                          **rope_kwargs(10000.0))
    return transformers.Qwen2Config(rope_theta=1000000.0, tie_word_embeddings=True, **common)


MODEL_CLASSES = {"llama": "LlamaForCausalLM", "llama31": "LlamaForCausalLM",
                 "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                 "mistral": "MistralForCausalLM"}


def make_model(kind, vocab, seed):
    torch.manual_seed(seed)
    cfg = model_config(kind, vocab)
    cls = getattr(transformers, MODEL_CLASSES[kind])
    model = cls(cfg).float().eval()
    # Random-init gives zero biases and unit norms; perturb them so the test
    # checks that they are loaded and used.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
            # Larger q/k for the new families: attention scores of order 1,
            # so that rotary frequencies (llama3 scaling) and q/k norms show.
            if kind in ("llama31", "qwen3", "mistral") and ("q_proj" in name or "k_proj" in name):
                p.mul_(10.0)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                             "tokenizers": tokenizers.__version__},
                "tokenizers": {}, "models": {}}
    for kind in ("gpt2", "qwen2"):
        tok = train_tokenizer(kind)
        d = os.path.join(OUT, f"tokenizer-{kind}")
        os.makedirs(d, exist_ok=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        cases = []
        for text in SAMPLE + CORPUS:
            enc = tok.encode(text, add_special_tokens=False)
            cases.append({"text": text, "ids": enc.ids,
                          "decoded": tok.decode(enc.ids, skip_special_tokens=False)})
        expected["tokenizers"][kind] = cases

    ids = torch.tensor([[1, 17, 250, 3, 99, 383, 42, 7, 0, 200]])
    for kind, seed in (("llama", 1), ("qwen2", 2), ("llama31", 31), ("qwen3", 3), ("mistral", 7)):
        model = make_model(kind, VOCAB, seed)
        name = f"tiny-{kind}"
        model.save_pretrained(os.path.join(OUT, name), safe_serialization=True)
        if kind == "llama":
            model.save_pretrained(os.path.join(OUT, name + "-sharded"), safe_serialization=True,
                                  max_shard_size="60KB")
        with torch.no_grad():
            logits = model(ids).logits[0]
        expected["models"][name] = {"input_ids": ids[0].tolist(),
                                    "logits": [[round(float(x), 7) for x in row] for row in logits]}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, ensure_ascii=False, indent=0)
    for root, _, files in os.walk(OUT):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            print(p, os.path.getsize(p))


if __name__ == "__main__":
    main()
