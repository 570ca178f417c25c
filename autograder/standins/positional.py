"""PositionalEncoding stand-in: the paper's table, in float64 and stored as float32."""

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=5000, dropout=0.1):
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float64)[:, None]
        angle = position / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        pe = torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(max_len, d_model)  # interleaved sin, cos
        self.register_buffer("pe", pe.float()[None])
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(x + self.pe[:, : x.size(1)])
