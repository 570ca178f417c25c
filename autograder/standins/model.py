"""The whole Transformer as a stand-in model, for grading the training functions."""

import math

import torch.nn as nn

from .decoder_mask import make_decoder_mask
from .masks import make_padding_mask
from .positional import PositionalEncoding
from .stacks import Decoder, Encoder


class Transformer(nn.Module):
    def __init__(self, src_vocab_size, tgt_vocab_size, d_model=512, num_heads=8, num_encoder_layers=6,
                 num_decoder_layers=6, d_ff=2048, max_len=5000, dropout=0.1, pad_idx=0):
        super().__init__()
        self.d_model, self.pad_idx = d_model, pad_idx
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_idx)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_idx)
        self.pos_encoding = PositionalEncoding(d_model, max_len, dropout)
        self.encoder = Encoder(num_encoder_layers, d_model, num_heads, d_ff, dropout)
        self.decoder = Decoder(num_decoder_layers, d_model, num_heads, d_ff, dropout)
        self.output_projection = nn.Linear(d_model, tgt_vocab_size)

    def encode(self, src, src_mask):
        return self.encoder(self.pos_encoding(self.src_embedding(src) * math.sqrt(self.d_model)), src_mask)

    def decode(self, tgt, memory, src_mask, tgt_mask):
        return self.decoder(self.pos_encoding(self.tgt_embedding(tgt) * math.sqrt(self.d_model)), memory, src_mask, tgt_mask)

    def forward(self, src, tgt):
        src_mask, tgt_mask = make_padding_mask(src, self.pad_idx), make_decoder_mask(tgt, self.pad_idx)
        return self.output_projection(self.decode(tgt, self.encode(src, src_mask), src_mask, tgt_mask))
