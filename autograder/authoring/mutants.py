"""The grader tested on itself: realistic student bugs, and correct answers in other styles.

Each mutant is the reference with one bug a student really writes, and names the one unit that
must lose points for it ("caught") and be the only one to ("confined"). Each variant is a correct
answer written another way (einsum, a large negative mask, fused projections, logsumexp, a loop
that puts the model back in the mode it found it in...) and must keep every point: the contract
fixes behaviour, not style. `bench/grader_mutations.py` grades them all and prints caught /
confined per unit; the kit's tests grade a fast subset (`FAST`) and every variant.
"""

from dataclasses import dataclass

from autograder.authoring.examples import Edit, Example

PKG = "transformer/"


@dataclass(frozen=True)
class Mutant:
    name: str
    unit: str  # the unit that must lose points, and the only one
    edits: tuple

    def example(self):
        return Example(self.name, self.name, self.edits, frozenset({self.unit}))


def _m(name, unit, *edits):
    return Mutant(name, unit, tuple(Edit(*edit) for edit in edits))


SPLIT = "    return x.view(B, L, num_heads, D // num_heads).transpose(1, 2)  # (B, L, H, D/H) -> (B, H, L, D/H)"
MERGE = "    return x.transpose(1, 2).contiguous().view(B, L, H * Dh)  # (B, L, H, Dh) -> (B, L, H·Dh)"
COUNT = "    return sum(p.numel() for p in model.parameters() if p.requires_grad)"
SOFTMAX_SHIFT = "    shifted = x - x.amax(dim=dim, keepdim=True)  # 最大値が 0 になるので exp があふれない"
SOFTMAX_SUM = "    return exps / exps.sum(dim=dim, keepdim=True)"
LN_VAR = "    variance = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1)"
LN_OUT = "    return (x - mean) / torch.sqrt(variance + eps) * weight + bias"
GELU = "    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))"
CE_SHIFT = "    shifted = logits - logits.amax(dim=-1, keepdim=True)  # (N, C)"
CE_OUT = "    return -picked.sum() / keep.sum()"
STEP = "    model.train()\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n    loss.backward()\n    optimizer.step()\n    return loss.item()"
EVAL = "    model.eval()\n    with torch.no_grad():\n        loss = criterion(model(x), y)\n    return loss.item()"
EPOCH_MEAN = "    return sum(losses) / len(losses)\n    ### END SOLUTION\n\n\ndef evaluate"
EVAL_LOOP = "    with torch.no_grad():\n        for src, tgt in loader:\n            losses.append(sequence_loss(model, src.to(device), tgt.to(device), criterion).item())"
EVAL_MEAN = "    return sum(losses) / len(losses)\n    ### END SOLUTION\n\n\ndef greedy_decode"

MUTANTS = [
    # notebook 00
    _m("split_no_transpose", "split_heads", ("cell:split_heads", SPLIT, "    return x.view(B, num_heads, L, D // num_heads)")),
    _m("split_heads_last", "split_heads", ("cell:split_heads", SPLIT, "    return x.reshape(B, L, D // num_heads, num_heads).permute(0, 3, 1, 2)")),
    _m("split_wrong_axes", "split_heads", ("cell:split_heads", SPLIT, "    return x.view(B, L, num_heads, D // num_heads).transpose(2, 3)")),
    _m("merge_without_transpose_cell", "merge_heads", ("cell:merge_heads", MERGE, "    return x.reshape(B, L, H * Dh)")),
    _m("merge_without_contiguous", "merge_heads", ("cell:merge_heads", MERGE, "    return x.transpose(1, 2).view(B, L, H * Dh)")),
    _m("merge_wrong_permute", "merge_heads", ("cell:merge_heads", MERGE, "    return x.permute(0, 2, 3, 1).reshape(B, L, H * Dh)")),
    _m("count_tensors", "count_parameters", ("cell:count_parameters", COUNT, "    return len([p for p in model.parameters() if p.requires_grad])")),
    _m("count_frozen_too", "count_parameters", ("cell:count_parameters", COUNT, "    return sum(p.numel() for p in model.parameters())")),
    _m("count_shared_twice", "count_parameters", ("cell:count_parameters", COUNT, "    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad)")),
    _m("softmax_over_wrong_axis", "softmax", ("cell:softmax", SOFTMAX_SUM, "    return exps / exps.sum(dim=0, keepdim=True)")),
    _m("softmax_no_shift", "softmax", ("cell:softmax", SOFTMAX_SHIFT, "    shifted = x")),
    _m("softmax_last_axis_only", "softmax", ("cell:softmax", SOFTMAX_SHIFT, "    shifted = x - x.amax(dim=-1, keepdim=True)"), ("cell:softmax", SOFTMAX_SUM, "    return exps / exps.sum(dim=-1, keepdim=True)")),
    _m("layer_norm_unbiased", "layer_norm", ("cell:layer_norm", LN_VAR, "    variance = x.var(dim=-1, keepdim=True)")),
    _m("layer_norm_eps_outside", "layer_norm", ("cell:layer_norm", LN_OUT, "    return (x - mean) / (torch.sqrt(variance) + eps) * weight + bias")),
    _m("layer_norm_no_affine", "layer_norm", ("cell:layer_norm", LN_OUT, "    return (x - mean) / torch.sqrt(variance + eps)")),
    _m("layer_norm_float32", "layer_norm", ("cell:layer_norm", LN_OUT, LN_OUT.replace("return ", "return (") + ").float()")),
    _m("gelu_tanh_approx", "gelu", ("cell:gelu", GELU, "    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))")),
    _m("gelu_no_sqrt2", "gelu", ("cell:gelu", GELU, "    return 0.5 * x * (1.0 + torch.erf(x))")),
    _m("gelu_sigmoid", "gelu", ("cell:gelu", GELU, "    return x * torch.sigmoid(1.702 * x)")),
    _m("loss_counts_pad", "cross_entropy", ("cell:cross_entropy", "    keep = targets != ignore_index  # (N,)", "    keep = targets == targets")),
    _m("ce_sum_not_mean", "cross_entropy", ("cell:cross_entropy", CE_OUT, "    return -picked.sum()")),
    _m("ce_mean_over_all_rows", "cross_entropy", ("cell:cross_entropy", CE_OUT, "    return -picked.sum() / len(targets)")),
    _m("ce_no_shift", "cross_entropy", ("cell:cross_entropy", CE_SHIFT, "    shifted = logits")),
    _m("ce_float32", "cross_entropy", ("cell:cross_entropy", CE_OUT, "    return (-picked.sum() / keep.sum()).float()")),
    _m("zero_grad_after_backward", "train_step", ("cell:train_step", STEP, STEP.replace("    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n    loss.backward()", "    loss = criterion(model(x), y)\n    loss.backward()\n    optimizer.zero_grad()"))),
    _m("train_step_no_train_mode", "train_step", ("cell:train_step", STEP, STEP.replace("    model.train()\n", ""))),
    _m("train_step_returns_tensor", "train_step", ("cell:train_step", STEP, STEP.replace("return loss.item()", "return loss"))),
    _m("train_step_no_step", "train_step", ("cell:train_step", STEP, STEP.replace("    optimizer.step()\n", ""))),
    _m("train_step_zero_grad_after_step", "train_step", ("cell:train_step", STEP, STEP.replace("    optimizer.zero_grad()\n", "").replace("optimizer.step()", "optimizer.step()\n    optimizer.zero_grad()"))),
    _m("eval_step_no_eval", "eval_step", ("cell:eval_step", EVAL, EVAL.replace("    model.eval()\n", ""))),
    _m("eval_step_no_no_grad", "eval_step", ("cell:eval_step", EVAL, "    model.eval()\n    loss = criterion(model(x), y)\n    return loss.item()")),
    _m("eval_step_backward", "eval_step", ("cell:eval_step", EVAL, "    model.eval()\n    loss = criterion(model(x), y)\n    loss.backward()\n    return loss.item()")),
    _m("eval_step_returns_tensor", "eval_step", ("cell:eval_step", EVAL, EVAL.replace("return loss.item()", "return loss"))),
    # masks
    _m("padding_over_queries", "make_padding_mask", (PKG + "masks.py", "is_token[:, None, None, :]", "is_token[:, None, :, None]")),
    _m("padding_inverted", "make_padding_mask", (PKG + "masks.py", "is_token = tokens != pad_idx", "is_token = tokens == pad_idx")),
    _m("padding_pad_fixed", "make_padding_mask", (PKG + "masks.py", "is_token = tokens != pad_idx", "is_token = tokens != 0")),
    _m("padding_three_dims", "make_padding_mask", (PKG + "masks.py", "return is_token[:, None, None, :]", "return is_token[:, None, :]")),
    _m("causal_upper", "make_causal_mask", (PKG + "masks.py", "torch.tril(", "torch.triu(")),
    _m("causal_strict", "make_causal_mask", (PKG + "masks.py", "dtype=torch.bool, device=device))", "dtype=torch.bool, device=device), diagonal=-1)")),
    _m("causal_float", "make_causal_mask", (PKG + "masks.py", "lower = torch.tril(torch.ones(size, size, dtype=torch.bool, device=device))", "lower = torch.tril(torch.ones(size, size, device=device))")),
    _m("causal_no_batch_axes", "make_causal_mask", (PKG + "masks.py", "return lower[None, None, :, :]", "return lower")),
    _m("decoder_or", "make_decoder_mask", (PKG + "masks.py", "make_padding_mask(tgt, pad_idx) & make_causal_mask(", "make_padding_mask(tgt, pad_idx) | make_causal_mask(")),
    _m("decoder_causal_only", "make_decoder_mask", (PKG + "masks.py", "return make_padding_mask(tgt, pad_idx) & make_causal_mask(", "return make_causal_mask(")),
    _m("decoder_default_pad", "make_decoder_mask", (PKG + "masks.py", "make_padding_mask(tgt, pad_idx) & make_causal_mask(", "make_padding_mask(tgt) & make_causal_mask(")),
    # attention
    _m("missing_scale", "scaled_dot_product_attention", (PKG + "attention.py", " / math.sqrt(d_k)", "")),
    _m("inverted_mask", "scaled_dot_product_attention", (PKG + "attention.py", 'scores.masked_fill(~mask, float("-inf"))', 'scores.masked_fill(mask, float("-inf"))')),
    _m("nan_on_fully_masked_rows", "scaled_dot_product_attention", (PKG + "attention.py", "    if mask is not None:\n        weights = weights.masked_fill(~mask, 0.0)\n", "")),
    _m("sdpa_scale_by_lk", "scaled_dot_product_attention", (PKG + "attention.py", " / math.sqrt(d_k)", " / math.sqrt(k.size(-2))")),
    _m("sdpa_softmax_over_queries", "scaled_dot_product_attention", (PKG + "attention.py", "weights = torch.softmax(scores, dim=-1)", "weights = torch.softmax(scores, dim=-2)")),
    _m("sdpa_dropout_on_output", "scaled_dot_product_attention", (PKG + "attention.py", "    if dropout is not None:\n        weights = dropout(weights)\n    out = weights @ v", "    out = weights @ v\n    if dropout is not None:\n        out = dropout(out)")),
    _m("sdpa_only_zeroed_after_softmax", "scaled_dot_product_attention", (PKG + "attention.py", '    if mask is not None:\n        scores = scores.masked_fill(~mask, float("-inf"))\n', "")),
    _m("self_attn_query_from_key", "SelfAttention", (PKG + "attention.py", "q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)", "q, k, v = self.W_k(x), self.W_k(x), self.W_v(x)")),
    _m("self_attn_no_mask", "SelfAttention", (PKG + "attention.py", "return scaled_dot_product_attention(q, k, v, mask)  #", "return scaled_dot_product_attention(q, k, v)  #")),
    _m("self_attn_value_unprojected", "SelfAttention", (PKG + "attention.py", "self.W_v(x)  # each", "x  # each")),
    # multi-head attention
    _m("scale_by_d_model", "MultiHeadAttention", (PKG + "multi_head.py", "out, weights = scaled_dot_product_attention(q, k, v, mask, dropout=self.dropout)", "out, weights = scaled_dot_product_attention(q * (d_k / self.d_model) ** 0.5, k, v, mask, dropout=self.dropout)")),
    _m("merge_without_transpose", "MultiHeadAttention", (PKG + "multi_head.py", "out = out.transpose(1, 2).contiguous().view(B, Lq, H * d_k)", "out = out.reshape(B, Lq, H * d_k)")),
    _m("key_from_value", "MultiHeadAttention", (PKG + "multi_head.py", "k = self.W_k(key)", "k = self.W_k(value)")),
    _m("missing_output_projection", "MultiHeadAttention", (PKG + "multi_head.py", "return self.W_o(out), weights", "return out, weights")),
    _m("mha_no_attention_dropout", "MultiHeadAttention", (PKG + "multi_head.py", "out, weights = scaled_dot_product_attention(q, k, v, mask, dropout=self.dropout)", "out, weights = scaled_dot_product_attention(q, k, v, mask)")),
    _m("mha_split_without_transpose", "MultiHeadAttention", (PKG + "multi_head.py", "q = self.W_q(query).view(B, Lq, H, d_k).transpose(1, 2)", "q = self.W_q(query).view(B, H, Lq, d_k)")),
    _m("mha_key_length_from_query", "MultiHeadAttention", (PKG + "multi_head.py", "k = self.W_k(key).view(B, Lk, H, d_k)", "k = self.W_k(key).view(B, Lq, H, d_k)")),
    _m("mha_dropout_on_output", "MultiHeadAttention", (PKG + "multi_head.py", "return self.W_o(out), weights", "return self.dropout(self.W_o(out)), weights")),
    # positional encoding
    _m("pe_halves", "sinusoidal_encoding", (PKG + "positional.py", "    table[:, 0::2] = torch.sin(angle)\n    table[:, 1::2] = torch.cos(angle)", "    table[:, : d_model // 2] = torch.sin(angle)\n    table[:, d_model // 2 :] = torch.cos(angle)")),
    _m("pe_float32", "sinusoidal_encoding", (PKG + "positional.py", "position = torch.arange(max_len, dtype=torch.float64)", "position = torch.arange(max_len, dtype=torch.float32)"),
       (PKG + "positional.py", "even_features = torch.arange(0, d_model, 2, dtype=torch.float64)", "even_features = torch.arange(0, d_model, 2, dtype=torch.float32)"),
       (PKG + "positional.py", "table = torch.zeros(max_len, d_model, dtype=torch.float64)", "table = torch.zeros(max_len, d_model, dtype=torch.float32)")),
    _m("pe_frequency_i_over_d", "sinusoidal_encoding", (PKG + "positional.py", "even_features * (-math.log(10000.0) / d_model)", "(even_features / 2) * (-math.log(10000.0) / d_model)")),
    _m("pe_base_1000", "sinusoidal_encoding", (PKG + "positional.py", "math.log(10000.0)", "math.log(1000.0)")),
    _m("pe_sin_cos_swapped", "sinusoidal_encoding", (PKG + "positional.py", "    table[:, 0::2] = torch.sin(angle)\n    table[:, 1::2] = torch.cos(angle)", "    table[:, 0::2] = torch.cos(angle)\n    table[:, 1::2] = torch.sin(angle)")),
    _m("pe_not_sliced", "PositionalEncoding", (PKG + "positional.py", "self.pe[:, :L]", "self.pe[:, :L].clone() * 0 + self.pe[:, -L:]")),
    _m("pe_as_parameter", "PositionalEncoding", (PKG + "positional.py", 'self.register_buffer("pe", sinusoidal_encoding(max_len, d_model)[None])', "self.pe = nn.Parameter(sinusoidal_encoding(max_len, d_model)[None])")),
    _m("pe_scaled_by_sqrt_d", "PositionalEncoding", (PKG + "positional.py", "return self.dropout(x + self.pe[:, :L])", "return self.dropout(x * math.sqrt(x.size(-1)) + self.pe[:, :L])")),
    _m("pe_dropout_on_x_only", "PositionalEncoding", (PKG + "positional.py", "return self.dropout(x + self.pe[:, :L])", "return self.dropout(x) + self.pe[:, :L]")),
    _m("pe_table_inline_wrong_base", "PositionalEncoding", (PKG + "positional.py", 'self.register_buffer("pe", sinusoidal_encoding(max_len, d_model)[None])',
       'angle = torch.arange(max_len)[:, None] / 1000.0 ** (torch.arange(0, d_model, 2) / d_model)\n        self.register_buffer("pe", torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)[None].float())')),
    # layers
    _m("ff_no_relu", "FeedForward", (PKG + "layers.py", "hidden = torch.relu(self.linear1(x))", "hidden = self.linear1(x)")),
    _m("ff_dropout_on_output", "FeedForward", (PKG + "layers.py", "return self.linear2(self.dropout(hidden))", "return self.dropout(self.linear2(hidden))")),
    _m("ff_gelu", "FeedForward", (PKG + "layers.py", "hidden = torch.relu(self.linear1(x))", "hidden = torch.sigmoid(1.702 * self.linear1(x)) * self.linear1(x)")),
    _m("enc_pre_ln_feed_forward", "EncoderLayer", (PKG + "layers.py", "x = self.norm2(x + self.dropout2(self.feed_forward(x)))", "x = x + self.dropout2(self.feed_forward(self.norm2(x)))")),
    _m("enc_norm1_reused", "EncoderLayer", (PKG + "layers.py", "x = self.norm2(x + self.dropout2(self.feed_forward(x)))", "x = self.norm1(x + self.dropout2(self.feed_forward(x)))")),
    _m("enc_dropout_after_norm", "EncoderLayer", (PKG + "layers.py", "x = self.norm1(x + self.dropout1(attended))", "x = self.dropout1(self.norm1(x + attended))")),
    _m("enc_no_mask", "EncoderLayer", (PKG + "layers.py", "attended, _ = self.self_attn(x, x, x, src_mask)", "attended, _ = self.self_attn(x, x, x)")),
    _m("enc_no_residual", "EncoderLayer", (PKG + "layers.py", "x = self.norm2(x + self.dropout2(self.feed_forward(x)))", "x = self.norm2(self.dropout2(self.feed_forward(x)))")),
    _m("enc_normalised_twice", "EncoderLayer", (PKG + "layers.py", "x = self.norm2(x + self.dropout2(self.feed_forward(x)))", "x = self.norm2(self.norm2(x + self.dropout2(self.feed_forward(x))))")),
    _m("cross_attention_without_source_mask", "DecoderLayer", (PKG + "layers.py", "self.cross_attn(x, memory, memory, src_mask)", "self.cross_attn(x, memory, memory)")),
    _m("masks_swapped", "DecoderLayer", (PKG + "layers.py", "self.self_attn(x, x, x, tgt_mask)  # (B, T, d_model)", "self.self_attn(x, x, x, src_mask)  # (B, T, d_model)")),
    _m("multiplicative_residual", "DecoderLayer", (PKG + "layers.py", "x = self.norm3(x + self.dropout3(self.feed_forward(x)))", "x = self.norm3(x * self.dropout3(self.feed_forward(x)))")),
    _m("dec_norm2_reused", "DecoderLayer", (PKG + "layers.py", "x = self.norm3(x + self.dropout3(self.feed_forward(x)))", "x = self.norm2(x + self.dropout3(self.feed_forward(x)))")),
    _m("dec_cross_dropout_missing", "DecoderLayer", (PKG + "layers.py", "x = self.norm2(x + self.dropout2(attended))", "x = self.norm2(x + attended)")),
    _m("dec_memory_as_query", "DecoderLayer", (PKG + "layers.py", "self.cross_attn(x, memory, memory, src_mask)", "self.cross_attn(x, x, memory, src_mask)")),
    # stacks and the model
    _m("shared_layers", "Encoder", (PKG + "transformer.py", "nn.ModuleList(EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))", "nn.ModuleList([EncoderLayer(d_model, num_heads, d_ff, dropout)] * num_layers)")),
    _m("encoder_no_final_norm", "Encoder", (PKG + "transformer.py", "            x = layer(x, src_mask)  # (B, S, d_model)\n        return self.norm(x)", "            x = layer(x, src_mask)  # (B, S, d_model)\n        return x")),
    _m("encoder_mask_dropped", "Encoder", (PKG + "transformer.py", "x = layer(x, src_mask)  # (B, S, d_model)", "x = layer(x)  # (B, S, d_model)")),
    _m("encoder_first_layer_only", "Encoder", (PKG + "transformer.py", "        for layer in self.layers:\n            x = layer(x, src_mask)", "        for layer in self.layers[:1]:\n            x = layer(x, src_mask)")),
    _m("decoder_shared_layers", "Decoder", (PKG + "transformer.py", "nn.ModuleList(DecoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))", "nn.ModuleList([DecoderLayer(d_model, num_heads, d_ff, dropout)] * num_layers)")),
    _m("decoder_no_final_norm", "Decoder", (PKG + "transformer.py", "            x = layer(x, memory, src_mask, tgt_mask)  # (B, T, d_model)\n        return self.norm(x)", "            x = layer(x, memory, src_mask, tgt_mask)  # (B, T, d_model)\n        return x")),
    _m("decoder_no_source_mask", "Decoder", (PKG + "transformer.py", "x = layer(x, memory, src_mask, tgt_mask)", "x = layer(x, memory, None, tgt_mask)")),
    _m("missing_embedding_scale", "Transformer", (PKG + "transformer.py", "x = self.src_embedding(src) * math.sqrt(self.d_model)", "x = self.src_embedding(src)")),
    _m("target_embedding_for_source", "Transformer", (PKG + "transformer.py", "x = self.src_embedding(src) * math.sqrt(self.d_model)", "x = self.tgt_embedding(src.clamp(max=10)) * math.sqrt(self.d_model)")),
    _m("no_causal_mask_in_forward", "Transformer", (PKG + "transformer.py", "tgt_mask = make_decoder_mask(tgt, self.pad_idx)", "tgt_mask = make_padding_mask(tgt, self.pad_idx)")),
    _m("projection_inside_decode", "Transformer", (PKG + "transformer.py", "return self.decoder(self.pos_encoding(y), memory, src_mask, tgt_mask)", "return self.output_projection(self.decoder(self.pos_encoding(y), memory, src_mask, tgt_mask))"),
       (PKG + "transformer.py", "return self.output_projection(self.decode(tgt, memory, src_mask, tgt_mask))", "return self.decode(tgt, memory, src_mask, tgt_mask)")),
    _m("no_positional_encoding", "Transformer", (PKG + "transformer.py", "return self.encoder(self.pos_encoding(x), src_mask)", "return self.encoder(x, src_mask)")),
    # training
    _m("wrong_shift", "sequence_loss", (PKG + "training.py", "tgt_input, tgt_output = tgt[:, :-1], tgt[:, 1:]", "tgt_input, tgt_output = tgt[:, 1:], tgt[:, :-1]")),
    _m("seq_loss_no_shift", "sequence_loss", (PKG + "training.py", "tgt_input, tgt_output = tgt[:, :-1], tgt[:, 1:]", "tgt_input, tgt_output = tgt, tgt")),
    _m("seq_loss_view_of_a_slice", "sequence_loss", (PKG + "training.py", "tgt_output.reshape(-1)", "tgt_output.view(-1)")),
    _m("no_train_mode", "train_one_epoch", (PKG + "training.py", "    model.train()\n    losses = []", "    losses = []")),
    _m("epoch_zero_grad_after_backward", "train_one_epoch", (PKG + "training.py", "        optimizer.zero_grad()\n        loss.backward()", "        loss.backward()\n        optimizer.zero_grad()")),
    _m("epoch_clip_after_step", "train_one_epoch", (PKG + "training.py", "        if max_grad_norm is not None:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)\n        optimizer.step()",
                                                   "        optimizer.step()\n        if max_grad_norm is not None:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)")),
    _m("epoch_scheduler_before_step", "train_one_epoch", (PKG + "training.py", "        optimizer.step()\n        if scheduler is not None:\n            scheduler.step()", "        if scheduler is not None:\n            scheduler.step()\n        optimizer.step()")),
    _m("epoch_returns_last_loss", "train_one_epoch", (PKG + "training.py", EPOCH_MEAN, EPOCH_MEAN.replace("sum(losses) / len(losses)", "losses[-1]"))),
    _m("epoch_weighted_by_batch_size", "train_one_epoch", (PKG + "training.py", "        losses.append(loss.item())", "        losses.append(loss.item() * len(src))"),
       (PKG + "training.py", EPOCH_MEAN, EPOCH_MEAN.replace("sum(losses) / len(losses)", "sum(losses) / sum(len(s) for s, _ in loader)"))),
    _m("dropout_on_in_evaluation", "evaluate", (PKG + "training.py", "    model.eval()\n    losses = []", "    losses = []")),
    _m("evaluate_without_no_grad", "evaluate", (PKG + "training.py", EVAL_LOOP, "    for src, tgt in loader:\n        losses.append(sequence_loss(model, src.to(device), tgt.to(device), criterion).item())")),
    _m("evaluate_backward", "evaluate", (PKG + "training.py", EVAL_LOOP, "    for src, tgt in loader:\n        loss = sequence_loss(model, src.to(device), tgt.to(device), criterion)\n        loss.backward()\n        losses.append(loss.item())")),
    _m("evaluate_sum", "evaluate", (PKG + "training.py", EVAL_MEAN, EVAL_MEAN.replace("sum(losses) / len(losses)", "sum(losses)"))),
    _m("bos_missing", "greedy_decode", (PKG + "training.py", "    return ys\n", "    return ys[:, 1:]\n")),
    _m("tokens_after_eos", "greedy_decode", (PKG + "training.py", "next_token = next_token.masked_fill(finished, pad_idx)", "next_token = next_token")),
    _m("decode_without_eval", "greedy_decode", (PKG + "training.py", "    model.eval()\n    pad_idx = model.pad_idx", "    pad_idx = model.pad_idx")),
    _m("decode_never_stops_early", "greedy_decode", (PKG + "training.py", "while ys.size(1) < max_len and not finished.all():", "while ys.size(1) < max_len:")),
    _m("decode_max_len_without_bos", "greedy_decode", (PKG + "training.py", "while ys.size(1) < max_len and", "while ys.size(1) <= max_len and")),
    _m("decode_first_position", "greedy_decode", (PKG + "training.py", "hidden[:, -1]", "hidden[:, 0]")),
    _m("decode_without_source_mask", "greedy_decode", (PKG + "training.py", "memory = model.encode(src, src_mask)", "memory = model.encode(src, None)")),
    _m("device_mps_first", "get_device", (PKG + "training.py", '    if torch.cuda.is_available():\n        return torch.device("cuda")\n    if torch.backends.mps.is_available():\n        return torch.device("mps")',
                                          '    if torch.backends.mps.is_available():\n        return torch.device("mps")\n    if torch.cuda.is_available():\n        return torch.device("cuda")')),
    _m("device_as_string", "get_device", (PKG + "training.py", 'return torch.device("cuda")', 'return "cuda"')),
    _m("device_without_mps", "get_device", (PKG + "training.py", '    if torch.backends.mps.is_available():\n        return torch.device("mps")\n', "")),
]

# The subset the kit's own tests grade (one or two per area; the bench grades them all).
FAST = ["split_no_transpose", "count_shared_twice", "softmax_no_shift", "layer_norm_unbiased", "ce_no_shift", "train_step_zero_grad_after_step",
        "eval_step_no_no_grad", "padding_over_queries", "causal_strict", "decoder_or", "missing_scale", "sdpa_dropout_on_output",
        "self_attn_no_mask", "mha_no_attention_dropout", "pe_float32", "pe_table_inline_wrong_base", "ff_dropout_on_output",
        "enc_norm1_reused", "enc_dropout_after_norm", "dec_cross_dropout_missing", "shared_layers", "decoder_no_final_norm",
        "no_causal_mask_in_forward", "seq_loss_view_of_a_slice", "epoch_clip_after_step", "epoch_scheduler_before_step",
        "epoch_weighted_by_batch_size", "evaluate_backward", "decode_without_eval", "decode_never_stops_early", "device_mps_first"]

ATTENTION_EINSUM = ("    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)", "    scores = torch.einsum(\"...qd,...kd->...qk\", q, k) / math.sqrt(d_k)")
EPOCH_LOOP_END = "        losses.append(loss.item())\n    return sum(losses) / len(losses)"

# Correct answers in other styles: each must keep every point.
VARIANTS = [
    Example("einsum_attention", "einsum でスコアと出力を計算する", (
        Edit(PKG + "attention.py", *ATTENTION_EINSUM),
        Edit(PKG + "attention.py", "    out = weights @ v  #", "    out = torch.einsum(\"...qk,...kd->...qd\", weights, v)  #"))),
    Example("large_negative_mask", "-inf ではなく -1e9 で埋め、マスクした重みを 0 に戻す", (
        Edit(PKG + "attention.py", 'scores = scores.masked_fill(~mask, float("-inf"))', "scores = scores.masked_fill(~mask, -1e9)"),)),
    Example("fused_qkv", "セルフアテンションのときは Q・K・V の射影を 1 回の行列積で計算する", (
        Edit(PKG + "multi_head.py", "import torch.nn as nn\n", "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"),
        Edit(PKG + "multi_head.py", "        q = self.W_q(query).view(B, Lq, H, d_k).transpose(1, 2)  # (B, Lq, D) -> (B, H, Lq, d_k)\n"
                                    "        k = self.W_k(key).view(B, Lk, H, d_k).transpose(1, 2)  # (B, Lk, D) -> (B, H, Lk, d_k)\n"
                                    "        v = self.W_v(value).view(B, Lk, H, d_k).transpose(1, 2)  # (B, Lk, D) -> (B, H, Lk, d_k)\n",
             "        if query is key and key is value:\n"
             "            weight = torch.cat([self.W_q.weight, self.W_k.weight, self.W_v.weight])  # (3D, D)\n"
             "            bias = torch.cat([self.W_q.bias, self.W_k.bias, self.W_v.bias])  # (3D,)\n"
             "            q, k, v = F.linear(query, weight, bias).chunk(3, dim=-1)  # 3 × (B, L, D)\n"
             "        else:\n"
             "            q, k, v = self.W_q(query), self.W_k(key), self.W_v(value)\n"
             "        q = q.reshape(B, Lq, H, d_k).transpose(1, 2)  # (B, H, Lq, d_k)\n"
             "        k = k.reshape(B, Lk, H, d_k).transpose(1, 2)  # (B, H, Lk, d_k)\n"
             "        v = v.reshape(B, Lk, H, d_k).transpose(1, 2)  # (B, H, Lk, d_k)\n"))),
    Example("logsumexp_cross_entropy", "log-softmax を logsumexp で計算する", (
        Edit("cell:cross_entropy", "    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()  # (N, C) log-softmax",
             "    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)  # (N, C)"),)),
    Example("restores_the_mode", "評価の後、モデルを元のモード（学習／評価）に戻す（nanoGPT の書き方）", (
        Edit(PKG + "training.py", "    model.eval()\n    losses = []\n    with torch.no_grad():", "    was_training = model.training\n    model.eval()\n    losses = []\n    with torch.no_grad():"),
        Edit(PKG + "training.py", EVAL_MEAN, EVAL_MEAN.replace("    return sum(losses) / len(losses)", "    model.train(was_training)\n    return sum(losses) / len(losses)")),
        Edit("cell:eval_step", EVAL, "    was_training = model.training\n    model.eval()\n    with torch.no_grad():\n        loss = criterion(model(x), y)\n    model.train(was_training)\n    return loss.item()"))),
    Example("numpy_mean", "バッチの損失の平均を np.mean で返す（numpy.float64 は float の一種）", (
        Edit(PKG + "training.py", "import torch\n", "import numpy as np\nimport torch\n"),
        Edit(PKG + "training.py", EPOCH_LOOP_END, "        losses.append(loss.item())\n    return np.mean(losses)"))),
    Example("inference_mode", "評価を torch.inference_mode() の中で行う", (
        Edit(PKG + "training.py", EVAL_LOOP, EVAL_LOOP.replace("torch.no_grad()", "torch.inference_mode()")),)),
    Example("imports_from_the_first_cell", "解答セルの import を消し、ノートブックの最初のセルの import に頼る", (
        Edit("cell:softmax", "import torch\n\n\n", ""), Edit("cell:layer_norm", "import torch\n\n\n", ""), Edit("cell:gelu", "import math\n\nimport torch\n\n\n", ""))),
    Example("causal_only_decoding", "貪欲デコードで、生成中の系列には因果マスクだけを使う（モデルが PAD を出さない限り同じ関数）", (
        Edit(PKG + "training.py", "from .masks import make_decoder_mask, make_padding_mask", "from .masks import make_causal_mask, make_padding_mask"),
        Edit(PKG + "training.py", "make_decoder_mask(ys, pad_idx))", "make_causal_mask(ys.size(1), ys.device))"))),
    Example("zero_grad_at_the_end", "zero_grad を step の後に置き、最初の 1 回の前にも呼ぶ", (
        Edit(PKG + "training.py", "    for src, tgt in loader:\n        loss = sequence_loss(model, src.to(device), tgt.to(device), criterion)\n        optimizer.zero_grad()\n",
             "    optimizer.zero_grad()\n    for src, tgt in loader:\n        loss = sequence_loss(model, src.to(device), tgt.to(device), criterion)\n"),
        Edit(PKG + "training.py", "        if scheduler is not None:\n            scheduler.step()\n", "        optimizer.zero_grad()\n        if scheduler is not None:\n            scheduler.step()\n"))),
]
