"""Loading a trained student: its adapters merged into its base, from artifacts on this
host's disk or copied from elsewhere first."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest
import torch

from distillery.training.students import Student, Weights
from distillery.workers.training.student import local_copy, merged
from tests.support.tiny_model import build_tiny_model

PROMPT = "What is 1 + 4?"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("base"), [PROMPT, "Answer: 5"])


def adapter(base_dir: Path, artifacts: Path, seed: int) -> None:
    """A LoRA adapter with random (not zero) weights, saved as a LoRA job publishes it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), config)
    model.save_pretrained(artifacts / "adapter")
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(artifacts / "adapter")


def logits(model: object, base_dir: Path) -> torch.Tensor:
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(base_dir)(PROMPT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return model(input_ids=ids).logits  # type: ignore[operator]


def test_a_students_adapter_is_merged_into_its_base(base: Path, tmp_path: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter(base, tmp_path / "a", seed=1)
    student = Student("train_a", str(base), (Weights("train_a", "adapter", str(tmp_path / "a")),))
    tokenizer, model = merged(student, tmp_path / "scratch", torch.float32)
    assert not isinstance(model, PeftModel) and tokenizer.chat_template
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), tmp_path / "a" / "adapter")
    plain = AutoModelForCausalLM.from_pretrained(base)
    assert torch.allclose(logits(model, base), logits(with_adapter, base), atol=1e-4)
    assert not torch.allclose(logits(model, base), logits(plain, base), atol=1e-4)


def test_a_chain_of_adapters_is_applied_in_order(base: Path, tmp_path: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter(base, tmp_path / "a", seed=1)
    adapter(base, tmp_path / "b", seed=2)
    chain = (Weights("train_a", "adapter", str(tmp_path / "a")), Weights("train_b", "adapter", str(tmp_path / "b")))
    _, model = merged(Student("train_b", str(base), chain), tmp_path / "scratch", torch.float32)
    by_hand = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), tmp_path / "a" / "adapter")
    by_hand = PeftModel.from_pretrained(by_hand.merge_and_unload(), tmp_path / "b" / "adapter")
    assert torch.allclose(logits(model, base), logits(by_hand, base), atol=1e-4)


def test_artifacts_elsewhere_are_copied_into_the_scratch_dir_and_local_ones_read_in_place(tmp_path: Path):
    fs = fsspec.filesystem("memory")
    fs.pipe({"/artifacts/train_a/adapter/adapter_config.json": b"{}", "/artifacts/train_a/adapter/sub/w.bin": b"123"})
    copied = local_copy("memory://artifacts/train_a/adapter", tmp_path / "copy")
    assert copied == tmp_path / "copy"
    assert (copied / "adapter_config.json").read_bytes() == b"{}" and (copied / "sub" / "w.bin").read_bytes() == b"123"
    (tmp_path / "here").mkdir()
    assert local_copy(str(tmp_path / "here"), tmp_path / "unused") == tmp_path / "here"
    assert not (tmp_path / "unused").exists()
    with pytest.raises(OSError, match="no weights at memory://artifacts/gone"):
        local_copy("memory://artifacts/gone", tmp_path / "gone")
