"""Trusted stand-ins for sub-units, swapped into a composite unit so that one bug costs its points once.

They are built on PyTorch's own implementations where one exists (F.multi_head_attention_forward),
or written apart from the reference where that would run a kernel a unit above is forbidden
(attention), and never import the reference solution. Each module holds the
stand-ins of one level, and the sandbox imports only the levels below the unit it grades, so a
unit's own stand-in is never in the process that grades it.

`STANDINS` maps a stand-in's name to the module (under this package) that defines it. When a
student's module is missing from a submission, the stand-ins of the names it should define take
its place for the units above it (only in the units allowed those stand-ins), so one missing file
costs its own units, not every unit that imports it.
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
