"""The typed hyperparameters mapped onto TRL's SFTConfig and DPOConfig (and PEFT's LoraConfig)."""

from __future__ import annotations

from pathlib import Path

from trl import DPOConfig, SFTConfig

from distillery.schemas.training import Hyperparameters, Lora
from distillery.training.hyperparameters import as_run, as_stored
from distillery.workers.training.configs import lora_config, trl_config

GIVEN = Hyperparameters(
    epochs=2.5,
    learning_rate=3e-4,
    batch_size=4,
    gradient_accumulation_steps=2,
    max_seq_length=256,
    warmup_ratio=0.1,
    gradient_checkpointing=False,
    seed=7,
)


def config(method: str, tmp_path: Path, **given: object) -> SFTConfig | DPOConfig:
    hp = as_run(method, as_stored(method, GIVEN.model_copy(update=given), lora=True))
    return trl_config(hp, tmp_path / "checkpoints", has_eval=True, bf16=False, pin_memory=False)


def test_the_shared_hyperparameters_land_on_trls_fields(tmp_path):
    args = config("sft", tmp_path)
    assert args.output_dir == str(tmp_path / "checkpoints")
    assert args.num_train_epochs == 2.5
    assert args.per_device_train_batch_size == args.per_device_eval_batch_size == 4
    assert args.gradient_accumulation_steps == 2
    assert args.learning_rate == 3e-4
    assert args.warmup_steps == 0.1  # transformers 5: below 1, a share of the steps
    assert args.max_length == 256
    assert args.gradient_checkpointing is False
    assert args.seed == 7
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch" and args.save_total_limit == 1
    assert args.logging_steps == 1 and args.report_to == [] and args.disable_tqdm


def test_sft_gets_packing_and_completion_only_loss(tmp_path):
    args = config("sft", tmp_path, packing=True, completion_only_loss=False)
    assert type(args) is SFTConfig
    assert args.packing is True and args.completion_only_loss is False


def test_dpo_gets_beta_and_none_of_sfts_fields(tmp_path):
    args = config("dpo", tmp_path, beta=0.25)
    assert type(args) is DPOConfig
    assert args.beta == 0.25 and args.max_length == 256
    assert not hasattr(args, "packing")
    assert args.loss_type == ["sigmoid"]


def test_dpo_with_an_sft_weight_adds_the_sft_loss_on_the_chosen_answer(tmp_path):
    args = config("dpo", tmp_path, sft_weight=0.5)
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 0.5]


def test_no_held_out_rows_means_no_eval_pass(tmp_path):
    hp = as_run("sft", as_stored("sft", GIVEN, lora=True))
    assert trl_config(hp, tmp_path, has_eval=False, bf16=False, pin_memory=False).eval_strategy == "no"


def test_lora_maps_onto_peft(tmp_path):
    peft = lora_config(Lora(r=4, alpha=8, dropout=0.1, target_modules=["q_proj", "v_proj"]))
    assert (peft.r, peft.lora_alpha, peft.lora_dropout) == (4, 8, 0.1)
    assert peft.target_modules == {"q_proj", "v_proj"} and peft.task_type == "CAUSAL_LM"
    assert lora_config(Lora()).target_modules == "all-linear"
