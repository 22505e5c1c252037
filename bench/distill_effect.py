"""Does curation make a better student? A tiny student, built here and trained from scratch on
this CPU, learns chain-of-thought arithmetic ("What is 47 + 85 + 3?") from a simulated
teacher that is wrong on a share of items (25% by default), through the whole service:
uploads, label jobs, pipelines, SFT, generate, feedback, DPO and evaluation on a gold set.

Students trained with the same number of optimizer steps on
  (a) raw               the teacher's labels as they come,
  (b) self_consistency  k sampled answers vote, low agreement dropped,
  (c) gold              labels checked against the user's gold answers (mismatches rejected),
  (d) on_policy         (c), then one round of the loop: the student samples fresh problems,
                        its samples are checked against their gold answers (a right one
                        chosen, a wrong one rejected), DPO (LoRA, with an SFT term) on the pairs,
each scored on the same held-out gold set, over several initialisation seeds. The student is
trained to convergence (2500 steps): short of it, the spread across seeds (about 15 points
at 1000 steps) hides the effect of the labels. Prints a
table (rows trained on, teacher requests and cost, accuracy mean and spread) and one line:

    effect: raw=A self_consistency=B gold=C on_policy=D     (mean accuracies, percent)

    python bench/distill_effect.py                      # 3 seeds, 2000 problems, 2500 steps (about an hour)
    python bench/distill_effect.py --seeds 1 --train 200 --steps 40 --gold 40   # a smoke run
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from stack import Stack, running_stack

SKILL = {"name": "arithmetic", "description": "Evaluate arithmetic exactly.", "reasoning": "cot"}
# gpt-4o-like list prices, so the table's costs read as a user's bill would.
PRICES = {"input_price_per_mtok": 2.5, "output_price_per_mtok": 10.0}
VARIANTS = ("raw", "self_consistency", "gold", "on_policy")
# A student's replies are about 45 tokens with this tokenizer (digits one token each).
MAX_NEW_TOKENS = 80


def problems(count: int, rng: random.Random) -> list[dict[str, str]]:
    out = []
    for i in range(count):
        a, b, c = rng.randrange(100), rng.randrange(100), rng.randrange(10)
        out.append({"id": f"p{i}", "instruction": f"What is {a} + {b} + {c}?", "output": str(a + b + c)})
    return out


def build_student(directory: Path, texts: list[str], seed: int, width: int, layers: int) -> Path:
    """A Llama-style student with randomly initialised weights and a BPE tokenizer trained on
    `texts` whose digits are single tokens (so sums are learnable), saved like a hub model."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<|end|>")
    tokenizer.chat_template = (
        "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def upload(stack: Stack, name: str, purpose: str, lines: list[dict[str, Any]]) -> str:
    import json

    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    response = stack.client.post(
        "/v1/datasets/upload",
        files={"file": (f"{name}.jsonl", body, "application/x-ndjson")},
        data={"purpose": purpose, "name": name},
    )
    response.raise_for_status()
    return str(response.json()["id"])


def run_pipeline(stack: Stack, body: dict[str, Any], timeout_s: float) -> tuple[str, dict[str, Any]]:
    """The run's id and its stages by name, once it succeeded."""
    response = stack.client.post("/v1/pipelines", json=body)
    if response.status_code != 202:
        raise SystemExit(f"pipeline {body['name']} refused: {response.text}")
    pipeline_id = response.json()["id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = stack.client.get(f"/v1/pipelines/{pipeline_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            if run["status"] != "succeeded":
                raise SystemExit(f"pipeline {body['name']} {run['status']}: {run['error']}")
            return pipeline_id, {s["name"]: s for s in run["stages"]}
        time.sleep(2)
    raise SystemExit(f"pipeline {body['name']} did not finish in {timeout_s:.0f} s")


def label_stage(name: str, source: str, **extra: Any) -> dict[str, Any]:
    spec = {"teacher": "sim", "method": "label", "skill": SKILL, "seeds": [], "source_dataset": source, **extra}
    return {"name": name, "kind": "job", "spec": spec}


def sft_stage(name: str, dataset: str, model: Path, rows: int, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    # The same number of optimizer steps for every variant, whatever its data size.
    epochs = max(args.steps * args.batch / rows, 0.01)
    hyperparameters = {
        "epochs": round(epochs, 4),
        "learning_rate": args.lr,
        "batch_size": args.batch,
        "max_seq_length": 256,
        "gradient_checkpointing": False,
        "warmup_ratio": 0.05,
        "seed": seed,
    }
    spec = {"dataset_id": dataset, "base_model": str(model), "hyperparameters": hyperparameters, "lora": None}
    return {"name": name, "kind": "sft", "spec": {**spec, "eval_split": 0, "evaluate": args.evaluate}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="student initialisations per variant")
    parser.add_argument("--train", type=int, default=2000, help="problems the teacher labels")
    parser.add_argument("--gold", type=int, default=300, help="held-out gold problems the students answer")
    parser.add_argument("--steps", type=int, default=2500, help="SFT optimizer steps, the same for every variant")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--wrong-rate", default="0.25")
    parser.add_argument("--sc-samples", type=int, default=5)
    parser.add_argument("--loop-prompts", type=int, default=1000, help="fresh problems the student samples in (d)")
    args = parser.parse_args()
    args.evaluate = {"n": args.gold, "max_new_tokens": MAX_NEW_TOKENS}

    rng = random.Random(1234)
    train = problems(args.train, rng)
    gold = [{**p, "id": f"g{i}"} for i, p in enumerate(problems(args.gold, random.Random(999)))]
    # The loop samples the student on problems it was not trained on (their gold answers
    # known, as a user's verifiable prompt pool): on its training problems it has learned
    # the answers, and its few wrong samples are noise, not its errors.
    fresh = [{**p, "id": f"f{i}"} for i, p in enumerate(problems(args.loop_prompts, random.Random(4242)))]
    work = Path(tempfile.mkdtemp(prefix="distillery-distill-"))
    logs = work / "logs"
    logs.mkdir()
    print(f"work and logs in {work}", flush=True)
    corpus = [
        f"{p['instruction']}\nWe need to evaluate {p['instruction'][8:-1]}, one operation at a time.\n"
        f"Step 1: 1 + 2 = 3\nStep 2: 3 + 4 = 7\nSo the result is {p['output']}.\nAnswer: {p['output']}"
        for p in train[:500]
    ]
    students = [
        build_student(work / "models" / f"student-{s}", corpus, s, args.width, args.layers) for s in range(args.seeds)
    ]
    env = {"DISTILLERY_MODEL_DIRS": str(work / "models")}
    flags = ["--wrong-rate", args.wrong_rate]
    with running_stack(flags, logs, database="distillery_distill", train_worker=True, env_extra=env) as stack:
        teacher = {"name": "sim", "base_url": stack.simulator_url, "model": "sim-teacher-1", "max_concurrency": 32}
        stack.client.post("/v1/teachers", json={**teacher, **PRICES}).raise_for_status()
        plain = upload(stack, "problems", "seeds", [{"id": p["id"], "instruction": p["instruction"]} for p in train])
        with_gold = upload(stack, "problems-gold", "seeds", train)
        gold_set = upload(stack, "gold", "eval", gold)
        args.evaluate["dataset_id"] = gold_set

        started = time.monotonic()
        warm = {"temperature": 0.8}
        labels_id, data = run_pipeline(
            stack,
            {
                "name": "labels",
                "stages": [
                    label_stage("raw", plain),
                    label_stage("self_consistency", plain, params={"samples_per_item": args.sc_samples, **warm}),
                    label_stage("gold", with_gold, curation={"gold": "reject"}),
                    label_stage("teacher", gold_set, curation={"gold": "keep"}),
                ],
            },
            timeout_s=3600,
        )
        labelled = {name: stack.client.get(f"/v1/jobs/{data[name]['job_id']}").json() for name in data}
        report = stack.client.get(f"/v1/pipelines/{labels_id}/report").json()
        teacher_accuracy = next(s["gold"]["accuracy"] for s in report["stages"] if s["name"] == "teacher")
        print(f"labels: {time.monotonic() - started:.0f} s", flush=True)

        accuracy: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for seed, model in enumerate(students):
            started = time.monotonic()
            stages = [
                sft_stage(v, labelled[v]["dataset_id"], model, labelled[v]["progress"]["accepted"], args, seed)
                for v in ("raw", "self_consistency", "gold")
            ]
            loop_prompts = upload(stack, f"loop-{seed}", "seeds", fresh)
            # Gentle: a LoRA adapter at a low rate. Full-weight DPO at args.lr / 10 took a
            # converged student from 94% to 69% in 7 steps (see README).
            dpo_hyperparameters = {
                "epochs": 2,
                "learning_rate": 1e-4,
                "warmup_ratio": 0.1,
                "batch_size": args.batch // 2,
                "max_seq_length": 256,
                "gradient_checkpointing": False,
                "beta": 0.1,
                # RPO: the chosen (correct) sample's likelihood is kept up as well.
                "sft_weight": 1.0,
                "seed": seed,
            }
            stages += [
                {
                    "name": "generate",
                    "kind": "generate",
                    "spec": {
                        "student": "@gold",
                        "dataset_id": loop_prompts,
                        # The prompts' answers are bare gold numbers, no pair material: the
                        # student's own samples alone, checked against them by the feedback job.
                        "generate": {
                            "samples": 4,
                            "temperature": 0.8,
                            "max_new_tokens": MAX_NEW_TOKENS,
                            "include_reference": False,
                        },
                    },
                },
                {
                    "name": "feedback",
                    "kind": "job",
                    "spec": {
                        "teacher": "sim",
                        "method": "feedback",
                        "skill": SKILL,
                        "seeds": [],
                        "source_dataset": "@generate",
                    },
                },
                {
                    "name": "on_policy",
                    "kind": "dpo",
                    "spec": {
                        "dataset_id": "@feedback",
                        "student": "@gold",
                        "hyperparameters": dpo_hyperparameters,
                        "lora": {"r": 8, "alpha": 16},
                        "eval_split": 0,
                        "evaluate": args.evaluate,
                    },
                },
            ]
            _, run = run_pipeline(stack, {"name": f"students-{seed}", "stages": stages}, timeout_s=6 * 3600)
            for variant in VARIANTS:
                job = stack.client.get(f"/v1/training-jobs/{run[variant]['training_job_id']}").json()
                accuracy[variant].append(100 * job["metrics"]["evaluation"]["exact_match"])
            if seed == 0:
                feedback_job = stack.client.get(f"/v1/jobs/{run['feedback']['job_id']}").json()
            scores = ", ".join(f"{v} {accuracy[v][-1]:.1f}%" for v in VARIANTS)
            print(f"seed {seed}: {scores} ({time.monotonic() - started:.0f} s)", flush=True)

    print(f"\nteacher: wrong on {args.wrong_rate} of prompts; {100 * teacher_accuracy:.1f}% right on the gold set")
    # A variant's replies already paid by an earlier one come from the cache (a user running
    # it alone would pay for them): paid and cached are shown apart.
    header = f"{'variant':<16} {'rows':>9} {'paid':>6} {'cached':>7} {'cost $':>8} {'accuracy %':>11} {'spread':>7}"
    print(f"\n{header}")
    for variant in VARIANTS:
        source = labelled["gold"] if variant == "on_policy" else labelled[variant]
        usage = {k: source["usage"][k] for k in ("requests", "cached_requests", "cost_usd")}
        rows = str(source["progress"]["accepted"])
        if variant == "on_policy":  # plus the feedback job on the student's samples (seed 0's), and its pairs
            usage = {k: usage[k] + feedback_job["usage"][k] for k in usage}
            rows += f"+{feedback_job['progress']['accepted']}"
        values = accuracy[variant]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(
            f"{variant:<16} {rows:>9} {usage['requests']:>6} {usage['cached_requests']:>7}"
            f" {usage['cost_usd']:>8.4f} {statistics.mean(values):>11.1f} {spread:>7.1f}"
        )
    means = " ".join(f"{v}={statistics.mean(accuracy[v]):.1f}" for v in VARIANTS)
    print(f"\neffect: {means}")


if __name__ == "__main__":
    main()
