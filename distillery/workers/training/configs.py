"""A run's hyperparameters mapped onto TRL's configs: the one place that names TRL's
fields. What the user chose comes from the typed hyperparameters; what the run decides
(checkpoints, logging, the device's precision) is fixed here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peft import LoraConfig
from trl import DPOConfig, SFTConfig

from distillery.schemas.training import Lora
from distillery.training.hyperparameters import MethodHyperparameters, SftHyperparameters


def trl_config(
    hp: MethodHyperparameters, output_dir: Path, *, has_eval: bool, bf16: bool, pin_memory: bool
) -> SFTConfig | DPOConfig:
    """SFTConfig for SFT, DPOConfig for DPO. `has_eval`: the run has held-out rows to
    evaluate the loss on each epoch; `bf16` and `pin_memory` follow the device."""
    common: dict[str, Any] = {
        "output_dir": str(output_dir),
        "num_train_epochs": hp.epochs,
        "per_device_train_batch_size": hp.batch_size,
        "per_device_eval_batch_size": hp.batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "learning_rate": hp.learning_rate,
        # transformers 5: a float below 1 is a share of the total steps.
        "warmup_steps": hp.warmup_ratio,
        "max_length": hp.max_seq_length,
        "gradient_checkpointing": hp.gradient_checkpointing,
        "bf16": bf16,
        "dataloader_pin_memory": pin_memory,
        "seed": hp.seed,
        "logging_steps": 1,
        # A checkpoint per epoch, the last one kept: a restarted worker resumes from it.
        "save_strategy": "epoch",
        "save_total_limit": 1,
        "eval_strategy": "epoch" if has_eval else "no",
        "include_num_input_tokens_seen": "non_padding",
        "report_to": "none",
        "disable_tqdm": True,
    }
    if isinstance(hp, SftHyperparameters):
        return SFTConfig(**common, packing=hp.packing, completion_only_loss=hp.completion_only_loss)
    if hp.sft_weight:  # RPO: the preference loss plus a weighted SFT loss on the chosen answer
        return DPOConfig(**common, beta=hp.beta, loss_type=["sigmoid", "sft"], loss_weights=[1.0, hp.sft_weight])
    return DPOConfig(**common, beta=hp.beta)


def lora_config(lora: Lora) -> LoraConfig:
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
