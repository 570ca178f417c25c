"""Benchmark: seconds to 99% on the reverse task, and our Transformer's forward+backward time / nn.Transformer's.

Both models are measured in this run, on one thread, on the same batches and the same shape
(d_model 64, 4 heads, 2+2 layers, d_ff 128). nn.Transformer gets the same embeddings, positional
encoding and output projection, so the ratio compares the stacks the student writes.

    python bench/train_reverse.py
"""

import math
import statistics
import time

import torch
import torch.nn as nn

from autograder.paths import reference_package
from autograder.authoring.toy_training import ToyConfig, build_model, train_toy

REPEATS = 7
STEPS_PER_REPEAT = 20


class TorchTransformerModel(nn.Module):
    """nn.Transformer wrapped with the same embeddings, positions and output layer as ours."""

    def __init__(self, ours):
        super().__init__()
        config = dict(
            d_model=ours.d_model,
            nhead=ours.encoder.layers[0].self_attn.num_heads,
            num_encoder_layers=len(ours.encoder.layers),
            num_decoder_layers=len(ours.decoder.layers),
            dim_feedforward=ours.encoder.layers[0].feed_forward.linear1.out_features,
            dropout=0.0,
            batch_first=True,
        )
        self.d_model = ours.d_model
        self.src_embedding, self.tgt_embedding = ours.src_embedding, ours.tgt_embedding
        self.pos_encoding, self.output_projection = ours.pos_encoding, ours.output_projection
        self.transformer = nn.Transformer(**config)

    def forward(self, src, tgt):
        scale = math.sqrt(self.d_model)
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), dtype=torch.bool)
        hidden = self.transformer(
            self.pos_encoding(self.src_embedding(src) * scale),
            self.pos_encoding(self.tgt_embedding(tgt) * scale),
            tgt_mask=causal,
            src_key_padding_mask=src == 0,
            tgt_key_padding_mask=tgt == 0,
            memory_key_padding_mask=src == 0,
        )
        return self.output_projection(hidden)


def seconds_per_step(model, batches):
    """Median over REPEATS of the mean time of one forward+backward on the given batches."""
    criterion = nn.CrossEntropyLoss(ignore_index=0)
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for src, tgt in batches:
            logits = model(src, tgt[:, :-1])
            criterion(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1)).backward()
        timings.append((time.perf_counter() - start) / len(batches))
    return statistics.median(timings)


def main():
    torch.set_num_threads(1)
    package = reference_package()
    config = ToyConfig()
    ours = build_model(config, package)
    theirs = TorchTransformerModel(ours)
    train_pairs, _ = package.data.make_split("reverse", 64 * STEPS_PER_REPEAT, 1, seed=1)
    batches = [package.data.collate(train_pairs[i : i + 64]) for i in range(0, len(train_pairs), 64)]
    seconds_per_step(ours, batches[:3]), seconds_per_step(theirs, batches[:3])  # warm-up
    ours_time = seconds_per_step(ours, batches)
    theirs_time = seconds_per_step(theirs, batches)
    print(f"forward+backward, batch 64: ours {ours_time * 1e3:.2f} ms, nn.Transformer {theirs_time * 1e3:.2f} ms, "
          f"ratio {ours_time / theirs_time:.2f}")

    report, _ = train_toy(config, progress=False)
    reached = f"{report.seconds_to_target:.1f} s" if report.seconds_to_target else "not reached"
    print(f"reverse task: {report.final_accuracy:.1%} held-out exact match; seconds to 99%: {reached}")


if __name__ == "__main__":
    main()
