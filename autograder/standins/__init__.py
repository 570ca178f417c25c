"""Trusted stand-ins for sub-units, swapped into a composite unit so that one bug costs its points once.

They are built on PyTorch's own implementations where one exists (F.scaled_dot_product_attention,
F.multi_head_attention_forward) and never import the reference solution. Each module holds the
stand-ins of one level, and the sandbox imports only the levels below the unit it grades, so a
unit's own stand-in is never in the process that grades it.

`STANDINS` maps a stand-in's name to the module (under this package) that defines it.
"""

STANDINS = {
    "make_padding_mask": "masks",
    "make_causal_mask": "masks",
    "make_decoder_mask": "decoder_mask",
    "scaled_dot_product_attention": "attention",
    "MultiHeadAttention": "multi_head",
    "FeedForward": "feed_forward",
    "sinusoidal_encoding": "sinusoid",
    "PositionalEncoding": "positional",
    "EncoderLayer": "layers",
    "DecoderLayer": "layers",
    "Encoder": "stacks",
    "Decoder": "stacks",
    "Transformer": "model",
    "TinyClassifier": "tiny",
    "sequence_loss": "training",
}
