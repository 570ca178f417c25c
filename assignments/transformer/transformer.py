"""エンコーダ、デコーダ、そしてエンコーダ・デコーダ型の Transformer 全体。"""

import math

import torch
import torch.nn as nn

from .data import PAD_IDX
from .layers import DecoderLayer, EncoderLayer
from .masks import make_decoder_mask, make_padding_mask
from .positional import PositionalEncoding


class Encoder(nn.Module):
    """EncoderLayer を num_layers 個重ね、最後に LayerNorm を掛けます。"""

    def __init__(self, num_layers, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x, src_mask=None):
        """引数: x は (B, S, d_model)、src_mask は (B, 1, 1, S)。戻り値: (B, S, d_model)。"""
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: Encoder.forward")


class Decoder(nn.Module):
    """DecoderLayer を num_layers 個重ね、最後に LayerNorm を掛けます。"""

    def __init__(self, num_layers, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x, memory, src_mask=None, tgt_mask=None):
        """引数: x は (B, T, d_model)、memory は (B, S, d_model)、マスクは DecoderLayer と同じ。戻り値: (B, T, d_model)。"""
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: Decoder.forward")


class Transformer(nn.Module):
    """エンコーダ・デコーダ型の Transformer（"Attention Is All You Need"、Post-LN）。

    埋め込みは √d_model 倍してから位置エンコーディングを足します。
    ``forward(src, tgt)`` はマスクを自分で作り、(B, T, tgt_vocab_size) のロジットを返します。
    """

    def __init__(
        self,
        src_vocab_size,
        tgt_vocab_size,
        d_model=512,
        num_heads=8,
        num_encoder_layers=6,
        num_decoder_layers=6,
        d_ff=2048,
        max_len=5000,
        dropout=0.1,
        pad_idx=PAD_IDX,
    ):
        super().__init__()
        self.d_model = d_model
        self.pad_idx = pad_idx
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_idx)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_idx)
        self.pos_encoding = PositionalEncoding(d_model, max_len, dropout)
        self.encoder = Encoder(num_encoder_layers, d_model, num_heads, d_ff, dropout)
        self.decoder = Decoder(num_decoder_layers, d_model, num_heads, d_ff, dropout)
        self.output_projection = nn.Linear(d_model, tgt_vocab_size)
        self._reset_parameters()

    def _reset_parameters(self):
        """初期化: エンコーダとデコーダの行列は nn.Transformer と同じ Xavier 一様分布。

        埋め込みは標準偏差 1/√d_model の正規分布にします。√d_model 倍すると分散 1 になり、
        位置エンコーディング（振幅 1）と釣り合います。PAD の行は 0 のままにします。
        """
        for stack in (self.encoder, self.decoder):
            for parameter in stack.parameters():
                if parameter.dim() > 1:
                    nn.init.xavier_uniform_(parameter)
        for embedding in (self.src_embedding, self.tgt_embedding):
            nn.init.normal_(embedding.weight, std=self.d_model**-0.5)
            with torch.no_grad():
                embedding.weight[self.pad_idx].zero_()

    def encode(self, src, src_mask):
        """引数: src は (B, S) のトークン、src_mask は (B, 1, 1, S)。戻り値: memory (B, S, d_model)。"""
        # ヒント: 埋め込み → √d_model 倍 → 位置エンコーディング → エンコーダ。
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: Transformer.encode")

    def decode(self, tgt, memory, src_mask, tgt_mask):
        """引数: tgt は (B, T)、memory は (B, S, d_model)、src_mask は (B, 1, 1, S)、tgt_mask は (B, 1, T, T)。

        戻り値: デコーダの出力 (B, T, d_model)（output_projection を通す前）。
        """
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: Transformer.decode")

    def forward(self, src, tgt):
        """引数: src は (B, S)、tgt は (B, T) のトークン。戻り値: (B, T, tgt_vocab_size) のロジット。"""
        # 手順:
        # 1. src からパディングマスク、tgt からデコーダマスクを作る（pad_idx は self.pad_idx）
        # 2. encode → decode → output_projection
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: Transformer.forward")
