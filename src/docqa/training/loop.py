"""The training loop: AdamW with warm-up and linear decay over the windows, in plain PyTorch.

A plain loop is shorter than setting up the transformers ``Trainer`` for one loss, and its steps
are easy to follow: shuffle the windows, pad each batch to its longest, step, clip, log the loss.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from docqa.training.features import Features


@dataclass(frozen=True)
class TrainOptions:
    epochs: float = 1.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1  # the share of the steps over which the learning rate rises
    max_grad_norm: float = 1.0
    max_seq_length: int = 384
    stride: int = 128
    seed: int = 0


@dataclass
class TrainStats:
    steps: int = 0
    windows: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # one per step
    device: str = "cpu"

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else 0.0


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_model(
    model: Any,
    features: Features,
    options: TrainOptions,
    pad_id: int,
    *,
    device: str | None = None,
    show_progress: bool | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainStats:
    """Fine-tune ``model`` (an ``AutoModelForQuestionAnswering``) on ``features`` in place.

    ``show_progress`` None draws the bar on a terminal only.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    device = device or pick_device()
    torch.manual_seed(options.seed)
    order = list(range(len(features)))
    batches = []
    generator = random.Random(options.seed)
    whole_epochs, part = divmod(options.epochs, 1.0)
    for epoch in range(int(whole_epochs) + (part > 0)):
        generator.shuffle(order)
        rows = order if epoch < whole_epochs else order[: max(1, round(part * len(order)))]
        batches += [rows[first:first + options.batch_size] for first in range(0, len(rows), options.batch_size)]
    model.to(device)
    model.train()
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": options.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=options.learning_rate,
    )
    schedule = get_linear_schedule_with_warmup(optimizer, round(options.warmup * len(batches)), len(batches))
    stats = TrainStats(device=device)
    started = time.perf_counter()
    bar = tqdm(batches, desc="training", unit="batch", file=sys.stderr, disable=None if show_progress is None
               else not show_progress, leave=False)
    for rows in bar:
        batch = {name: torch.from_numpy(array).to(device) for name, array in features.batch(rows, pad_id).items()}
        loss = model(**batch).loss  # the mean of the start and end cross-entropies
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), options.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        stats.steps += 1
        stats.windows += len(rows)
        stats.losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{stats.losses[-1]:.3f}", refresh=False)
        if on_step is not None:
            on_step(stats.steps, stats.losses[-1])
    bar.close()
    stats.seconds = time.perf_counter() - started
    model.eval()
    model.to("cpu")
    return stats
