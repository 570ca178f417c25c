"""自作 Transformer パッケージ。各ファイルの TODO を埋めると、エンコーダ・デコーダ型の Transformer が完成します。"""

from .attention import SelfAttention, scaled_dot_product_attention
from .data import BOS_IDX, EOS_IDX, PAD_IDX
from .layers import DecoderLayer, EncoderLayer, FeedForward
from .masks import make_causal_mask, make_decoder_mask, make_padding_mask
from .multi_head import MultiHeadAttention
from .positional import PositionalEncoding, sinusoidal_encoding
from .training import evaluate, get_device, greedy_decode, sequence_loss, train_one_epoch
from .transformer import Decoder, Encoder, Transformer
