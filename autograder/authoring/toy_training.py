"""Train the reference Transformer on a toy task and measure greedy exact-match accuracy.

Used by `jisaku demo` (until grading exists) and by `bench/train_reverse.py`.
"""

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from autograder.paths import reference_package


@dataclass(frozen=True)
class ToyConfig:
    """Everything that decides a toy run, in one place."""

    task: str = "reverse"
    num_symbols: int = 10
    min_len: int = 1
    max_len: int = 10
    num_train: int = 16_000
    num_test: int = 500
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 128
    dropout: float = 0.0
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 200
    num_epochs: int = 4
    max_grad_norm: float = 1.0
    seed: int = 0


@dataclass
class ToyReport:
    """What a run produced, one entry per epoch, and when the target accuracy was reached."""

    config: ToyConfig
    seconds: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)
    seconds_to_target: float | None = None

    @property
    def final_accuracy(self):
        return self.accuracies[-1] if self.accuracies else 0.0


def build_model(config, package=None):
    """A reference `Transformer` of the config's shape, initialised from the config's seed."""
    package = package or reference_package()
    torch.manual_seed(config.seed)
    vocab = package.data.vocab_size_for(config.num_symbols)
    return package.Transformer(
        vocab,
        vocab,
        d_model=config.d_model,
        num_heads=config.num_heads,
        num_encoder_layers=config.num_layers,
        num_decoder_layers=config.num_layers,
        d_ff=config.d_ff,
        max_len=config.max_len + 2,
        dropout=config.dropout,
    )


def sequence_accuracy(model, pairs, package=None, batch_size=500):
    """Fraction of `pairs` whose greedy decode equals the target exactly (through EOS)."""
    package = package or reference_package()
    correct = 0
    for start in range(0, len(pairs), batch_size):
        src, tgt = package.data.collate(pairs[start : start + batch_size])
        decoded = package.greedy_decode(model, src, max_len=tgt.size(1))  # (B, ≤T)
        padded = torch.full_like(tgt, package.PAD_IDX)
        padded[:, : decoded.size(1)] = decoded
        correct += (padded == tgt).all(dim=1).sum().item()
    return correct / len(pairs)


def warmup_then_linear_decay(config):
    """LambdaLR factor: linear warm-up over `warmup_steps`, then linear decay to 0 at `total_steps`."""

    def factor(step):
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        total_steps = config.num_epochs * math.ceil(config.num_train / config.batch_size)
        return max(0.0, (total_steps - step) / (total_steps - config.warmup_steps))

    return factor


def train_toy(config=ToyConfig(), target_accuracy=0.99, time_budget_s=None, progress=True):
    """Train epoch by epoch with the package's `train_one_epoch`, evaluating greedy exact match after each.

    Stops at `target_accuracy` on the held-out split, after `num_epochs`, or past the time budget.
    """
    package = reference_package()
    train_pairs, test_pairs = package.data.make_split(
        config.task, config.num_train, config.num_test, config.num_symbols, config.min_len, config.max_len, config.seed
    )
    model = build_model(config, package)
    criterion = nn.CrossEntropyLoss(ignore_index=package.PAD_IDX)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear_decay(config))
    report = ToyReport(config)
    start = time.perf_counter()
    epochs = tqdm(range(config.num_epochs), desc=f"{config.task} タスクを学習中", disable=not progress)
    for epoch in epochs:
        loader = package.data.make_loader(train_pairs, config.batch_size, seed=config.seed + epoch)
        loss = package.train_one_epoch(
            model, loader, optimizer, criterion, scheduler=scheduler, max_grad_norm=config.max_grad_norm
        )
        accuracy = sequence_accuracy(model, test_pairs, package)
        report.losses.append(loss)
        report.accuracies.append(accuracy)
        report.seconds.append(time.perf_counter() - start)
        epochs.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.1%}")
        if accuracy >= target_accuracy:
            report.seconds_to_target = report.seconds[-1]
            break
        if time_budget_s is not None and report.seconds[-1] > time_budget_s:
            break
    return report, model
