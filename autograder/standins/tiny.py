"""A small classifier with dropout, for grading notebook 00's train_step / eval_step / count_parameters."""

import torch.nn as nn


class TinyClassifier(nn.Sequential):
    def __init__(self, in_features=6, hidden=10, classes=4, dropout=0.5):
        super().__init__(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes))
