"""SFT throughput of the training worker's trainer (TRL's SFTTrainer, full fine-tuning) on
a randomly initialised student: input tokens per second with and without packing. Weights
need not be trained to measure speed, so nothing is downloaded.

    python bench/train_throughput.py                 # a tiny Llama-style config, CPU
    python bench/train_throughput.py --size 0.5b     # a Qwen2-0.5B-like config, for a GPU

Sequence lengths are drawn uniformly between an eighth of and the full max length, as
instruction data is: padding wastes a batch's short rows, packing fills them.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from typing import Any

import torch
from datasets import Dataset, disable_progress_bars
from tokenizers import Tokenizer, models
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    PrinterCallback,
    Qwen2Config,
)
from trl import SFTConfig, SFTTrainer

SIZES: dict[str, dict[str, Any]] = {
    # The unit tests' student, a little wider.
    "tiny": {"config": LlamaConfig, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
             "max_len": 256, "batch_size": 8, "rows": 256},
    # Qwen2-0.5B's shape (494M parameters with its 151,936-token vocabulary).
    "0.5b": {"config": Qwen2Config, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
             "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151_936,
             "max_len": 2048, "batch_size": 8, "rows": 512},
}  # fmt: skip


def special_tokens_only() -> PreTrainedTokenizerFast:
    """The rows are token ids already; the trainer needs a tokenizer only to pad."""
    core = Tokenizer(models.WordLevel({"<pad>": 0, "<eos>": 1}, unk_token="<pad>"))
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")


def random_rows(count: int, max_len: int, vocab: int, seed: int = 0) -> Dataset:
    rng = random.Random(seed)
    lengths = [rng.randint(max_len // 8, max_len) for _ in range(count)]
    return Dataset.from_list([{"input_ids": [rng.randrange(2, vocab) for _ in range(n)]} for n in lengths])


def measure(size: str, packing: bool, steps: int) -> dict[str, float]:
    shape = dict(SIZES[size])
    config_class: type[PretrainedConfig] = shape.pop("config")
    max_len, batch_size, rows = shape.pop("max_len"), shape.pop("batch_size"), shape.pop("rows")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config_class(**shape, pad_token_id=0, eos_token_id=1))
    gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            learning_rate=1e-5,
            max_length=max_len,
            packing=packing,
            bf16=gpu and torch.cuda.is_bf16_supported(),
            gradient_checkpointing=gpu,
            include_num_input_tokens_seen="non_padding",
            logging_steps=steps,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=random_rows(rows, max_len, shape["vocab_size"]),
            processing_class=special_tokens_only(),
        )
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    tokens = trainer.state.num_input_tokens_seen
    return {"steps": steps, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    disable_progress_bars()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    shape = SIZES[args.size]
    print(f"SFT throughput, {args.size} model, {device}: batch {shape['batch_size']}, max length {shape['max_len']}")
    print(f"{'packing':>8} {'steps':>6} {'tokens':>10} {'seconds':>8} {'tokens/s':>10}")
    for packing in (False, True):
        r = measure(args.size, packing, args.steps)
        row = f"{r['steps']:>6.0f} {r['tokens']:>10.0f} {r['seconds']:>8.1f} {r['tokens_per_s']:>10.0f}"
        print(f"{'on' if packing else 'off':>8} {row}")


if __name__ == "__main__":
    main()
