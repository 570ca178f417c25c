"""The positional-encoding table stand-in: the paper's formula, computed in float64 and stored as float32."""

import torch


def sinusoidal_encoding(max_len, d_model):
    position = torch.arange(max_len, dtype=torch.float64)[:, None]
    angle = position / 10000.0 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(max_len, d_model).float()  # interleaved sin, cos
