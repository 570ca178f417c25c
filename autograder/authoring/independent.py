"""Two correct solutions written independently of the reference, filled into the released skeleton.

Each is what a student who never saw `solutions/` might hand in: the skeleton of `assignments/`
with every TODO stub replaced by that student's own answer (the hint comments, docstrings and
`__init__` bodies left as released). One follows the numbered hints in its own words; the other
writes in another style (einsum, comparisons instead of `tril`, a loop over the sub-layers,
`logsumexp`). They agree with the reference on every hidden case, and they are what the
similarity check (`autograder.outputs.similarity`) must NOT flag: the contract fixes names and
behaviour, so independent answers share short idioms, never whole functions in the same order.

Answers are keyed by the stub's name (`"MultiHeadAttention.forward"`) or, for notebook 00, by
the answer cell's grade_id as `"cell:softmax"` (the convention of `examples.Edit`).
"""

import re
import shutil
import textwrap
from pathlib import Path

import nbformat

from autograder.authoring.release import NAME_PLACEHOLDER, NOTEBOOK_STUB, PYTHON_STUB
from autograder.paths import ASSIGNMENTS, NOTEBOOK

FOLLOWS_THE_HINTS = {
    "scaled_dot_product_attention": """
        dk = k.shape[-1]
        logits = torch.matmul(q, k.transpose(-1, -2)) / dk ** 0.5
        if mask is not None:
            logits = logits.masked_fill(mask.logical_not(), float("-inf"))
        attn = logits.softmax(dim=-1)
        if mask is not None:
            attn = torch.where(mask, attn, torch.zeros_like(attn))
        if dropout is not None:
            attn = dropout(attn)
        return torch.matmul(attn, v), attn
    """,
    "SelfAttention.forward": """
        query = self.W_q(x)
        key = self.W_k(x)
        value = self.W_v(x)
        out, weights = scaled_dot_product_attention(query, key, value, mask=mask)
        return out, weights
    """,
    "FeedForward.forward": """
        h = self.linear1(x).relu()
        h = self.dropout(h)
        return self.linear2(h)
    """,
    "EncoderLayer.forward": """
        sub = self.self_attn(x, x, x, src_mask)[0]
        x = self.norm1(x + self.dropout1(sub))
        sub = self.feed_forward(x)
        return self.norm2(x + self.dropout2(sub))
    """,
    "DecoderLayer.forward": """
        h = self.self_attn(x, x, x, tgt_mask)[0]
        x = self.norm1(x + self.dropout1(h))
        h = self.cross_attn(x, memory, memory, src_mask)[0]
        x = self.norm2(x + self.dropout2(h))
        h = self.feed_forward(x)
        return self.norm3(x + self.dropout3(h))
    """,
    "make_padding_mask": """
        mask = tokens.ne(pad_idx)
        return mask.unsqueeze(1).unsqueeze(2)
    """,
    "make_causal_mask": """
        m = torch.ones((size, size), device=device).tril().bool()
        return m.view(1, 1, size, size)
    """,
    "make_decoder_mask": """
        L = tgt.shape[1]
        causal = make_causal_mask(L, device=tgt.device)
        return causal & make_padding_mask(tgt, pad_idx=pad_idx)
    """,
    "MultiHeadAttention.forward": """
        batch = query.size(0)

        def heads(t):
            return t.view(batch, -1, self.num_heads, self.d_k).transpose(1, 2)

        q = heads(self.W_q(query))
        k = heads(self.W_k(key))
        v = heads(self.W_v(value))
        context, attn = scaled_dot_product_attention(q, k, v, mask=mask, dropout=self.dropout)
        context = context.transpose(1, 2).reshape(batch, -1, self.d_model)
        return self.W_o(context), attn
    """,
    "sinusoidal_encoding": """
        pos = torch.arange(0, max_len, dtype=torch.float64).unsqueeze(1)
        i2 = torch.arange(0, d_model, 2, dtype=torch.float64)
        div = torch.pow(10000.0, i2 / d_model)
        pe = torch.empty(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(pos / div)
        pe[:, 1::2] = torch.cos(pos / div)
        return pe.to(torch.float32)
    """,
    "PositionalEncoding.forward": """
        x = x + self.pe[:, : x.shape[1], :]
        return self.dropout(x)
    """,
    "get_device": """
        if torch.cuda.is_available():
            name = "cuda"
        elif torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
        return torch.device(name)
    """,
    "sequence_loss": """
        decoder_in = tgt[:, :-1]
        expected = tgt[:, 1:]
        out = model(src, decoder_in)
        vocab = out.shape[-1]
        return criterion(out.reshape(-1, vocab), expected.reshape(-1))
    """,
    "train_one_epoch": """
        if device is None:
            device = next(model.parameters()).device
        model.train()
        total, count = 0.0, 0
        for src, tgt in loader:
            src, tgt = src.to(device), tgt.to(device)
            optimizer.zero_grad()
            loss = sequence_loss(model, src, tgt, criterion)
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item()
            count += 1
        return total / count
    """,
    "evaluate": """
        if device is None:
            device = next(model.parameters()).device
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for src, tgt in loader:
                total += sequence_loss(model, src.to(device), tgt.to(device), criterion).item()
                count += 1
        return total / count
    """,
    "greedy_decode": """
        model.eval()
        B = src.shape[0]
        src_mask = make_padding_mask(src, model.pad_idx)
        with torch.no_grad():
            memory = model.encode(src, src_mask)
            out = torch.full((B, 1), bos_idx, dtype=torch.long, device=src.device)
            done = torch.zeros(B, dtype=torch.bool, device=src.device)
            for _ in range(max_len - 1):
                if done.all():
                    break
                dec = model.decode(out, memory, src_mask, make_decoder_mask(out, model.pad_idx))
                nxt = model.output_projection(dec[:, -1, :]).argmax(-1)
                nxt[done] = model.pad_idx
                out = torch.cat((out, nxt.unsqueeze(1)), dim=1)
                done = done | (nxt == eos_idx)
        return out
    """,
    "Encoder.forward": """
        out = x
        for enc_layer in self.layers:
            out = enc_layer(out, src_mask=src_mask)
        return self.norm(out)
    """,
    "Decoder.forward": """
        out = x
        for dec_layer in self.layers:
            out = dec_layer(out, memory, src_mask=src_mask, tgt_mask=tgt_mask)
        return self.norm(out)
    """,
    "Transformer.encode": """
        emb = self.src_embedding(src) * self.d_model ** 0.5
        emb = self.pos_encoding(emb)
        return self.encoder(emb, src_mask)
    """,
    "Transformer.decode": """
        emb = self.tgt_embedding(tgt) * self.d_model ** 0.5
        emb = self.pos_encoding(emb)
        return self.decoder(emb, memory, src_mask, tgt_mask)
    """,
    "Transformer.forward": """
        src_mask = make_padding_mask(src, pad_idx=self.pad_idx)
        tgt_mask = make_decoder_mask(tgt, pad_idx=self.pad_idx)
        mem = self.encode(src, src_mask)
        dec = self.decode(tgt, mem, src_mask, tgt_mask)
        return self.output_projection(dec)
    """,
    "cell:split_heads": """
        batch, length, dim = x.size()
        head_dim = dim // num_heads
        x = x.view(batch, length, num_heads, head_dim)
        return x.transpose(1, 2)
    """,
    "cell:merge_heads": """
        b, h, l, d = x.size()
        return x.transpose(1, 2).contiguous().view(b, l, h * d)
    """,
    "cell:layer_norm": """
        mu = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, correction=0)
        x_hat = (x - mu) / torch.sqrt(var + eps)
        return weight * x_hat + bias
    """,
    "cell:softmax": """
        m = torch.max(x, dim=dim, keepdim=True).values
        e = torch.exp(x - m)
        return e / torch.sum(e, dim=dim, keepdim=True)
    """,
    "cell:gelu": """
        cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
        return x * cdf
    """,
    "cell:cross_entropy": """
        m = logits.max(dim=1, keepdim=True).values
        lse = m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))
        logp = logits - lse
        valid = targets != ignore_index
        chosen = logp[valid].gather(1, targets[valid].unsqueeze(1)).squeeze(1)
        return -chosen.sum() / valid.sum()
    """,
    "cell:train_step": """
        model.train()
        optimizer.zero_grad()
        out = model(x)
        loss = criterion(out, y)
        loss.backward()
        optimizer.step()
        return float(loss)
    """,
    "cell:eval_step": """
        model.eval()
        with torch.no_grad():
            out = model(x)
            value = criterion(out, y).item()
        return value
    """,
    "cell:count_parameters": """
        total = 0
        for param in model.parameters():
            if param.requires_grad:
                total += param.numel()
        return total
    """,
}

ANOTHER_STYLE = {
    "scaled_dot_product_attention": """
        scale = 1.0 / math.sqrt(q.size(-1))
        s = torch.einsum("...id,...jd->...ij", q, k) * scale
        if mask is None:
            w = torch.softmax(s, dim=-1)
        else:
            w = torch.softmax(s.masked_fill(~mask, -1e9), dim=-1) * mask
        if dropout is not None:
            w = dropout(w)
        return torch.einsum("...ij,...jd->...id", w, v), w
    """,
    "SelfAttention.forward": """
        projected = [proj(x) for proj in (self.W_q, self.W_k, self.W_v)]
        return scaled_dot_product_attention(*projected, mask)
    """,
    "FeedForward.forward": """
        return self.linear2(self.dropout(torch.nn.functional.relu(self.linear1(x))))
    """,
    "EncoderLayer.forward": """
        residual = x
        x, _ = self.self_attn(x, x, x, mask=src_mask)
        x = self.norm1(residual + self.dropout1(x))
        residual = x
        x = self.feed_forward(x)
        x = self.norm2(residual + self.dropout2(x))
        return x
    """,
    "DecoderLayer.forward": """
        steps = (
            (lambda h: self.self_attn(h, h, h, mask=tgt_mask)[0], self.dropout1, self.norm1),
            (lambda h: self.cross_attn(h, memory, memory, mask=src_mask)[0], self.dropout2, self.norm2),
            (self.feed_forward, self.dropout3, self.norm3),
        )
        for sublayer, drop, norm in steps:
            x = norm(x + drop(sublayer(x)))
        return x
    """,
    "make_padding_mask": """
        B, L = tokens.shape
        return (tokens != pad_idx).reshape(B, 1, 1, L)
    """,
    "make_causal_mask": """
        i = torch.arange(size, device=device)
        return (i[None, :] <= i[:, None]).view(1, 1, size, size)
    """,
    "make_decoder_mask": """
        pad = make_padding_mask(tgt, pad_idx)
        future = make_causal_mask(tgt.size(-1), device=tgt.device)
        return torch.logical_and(pad, future)
    """,
    "MultiHeadAttention.forward": """
        B, Lq, D = query.shape
        H = self.num_heads

        def project(linear, t):
            return linear(t).reshape(B, t.size(1), H, self.d_k).permute(0, 2, 1, 3)

        q, k, v = project(self.W_q, query), project(self.W_k, key), project(self.W_v, value)
        heads, weights = scaled_dot_product_attention(q, k, v, mask, self.dropout)
        merged = heads.permute(0, 2, 1, 3).reshape(B, Lq, D)
        return self.W_o(merged), weights
    """,
    "sinusoidal_encoding": """
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        positions = torch.arange(max_len, dtype=torch.float64)
        for i in range(0, d_model, 2):
            angle = positions / (10000.0 ** (i / d_model))
            pe[:, i] = angle.sin()
            pe[:, i + 1] = angle.cos()
        return pe.float()
    """,
    "PositionalEncoding.forward": """
        seq_len = x.shape[1]
        pos = self.pe.narrow(1, 0, seq_len)
        return self.dropout(x + pos)
    """,
    "get_device": """
        for name, available in (("cuda", torch.cuda.is_available), ("mps", torch.backends.mps.is_available)):
            if available():
                return torch.device(name)
        return torch.device("cpu")
    """,
    "sequence_loss": """
        logits = model(src, tgt[:, :-1])
        return criterion(logits.flatten(0, 1), tgt[:, 1:].flatten())
    """,
    "train_one_epoch": """
        device = next(model.parameters()).device if device is None else device
        model.train()
        history = []
        for batch in loader:
            src, tgt = (t.to(device) for t in batch)
            loss = sequence_loss(model, src, tgt, criterion)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            history.append(float(loss))
        return sum(history) / len(history)
    """,
    "evaluate": """
        device = next(model.parameters()).device if device is None else device
        model.eval()
        with torch.inference_mode():
            batch_losses = [sequence_loss(model, s.to(device), t.to(device), criterion).item() for s, t in loader]
        return sum(batch_losses) / len(batch_losses)
    """,
    "greedy_decode": """
        model.eval()
        with torch.no_grad():
            src_mask = make_padding_mask(src, model.pad_idx)
            memory = model.encode(src, src_mask)
            tokens = [torch.full_like(src[:, 0], bos_idx)]
            alive = torch.ones_like(tokens[0], dtype=torch.bool)
            while len(tokens) < max_len and alive.any():
                ys = torch.stack(tokens, dim=1)
                h = model.decode(ys, memory, src_mask, make_decoder_mask(ys, model.pad_idx))
                step = model.output_projection(h[:, -1]).argmax(dim=-1)
                step = torch.where(alive, step, torch.full_like(step, model.pad_idx))
                tokens.append(step)
                alive = alive & (step != eos_idx)
        return torch.stack(tokens, dim=1)
    """,
    "Encoder.forward": """
        h = x
        for i in range(len(self.layers)):
            h = self.layers[i](h, src_mask)
        return self.norm(h)
    """,
    "Decoder.forward": """
        h = x
        for i in range(len(self.layers)):
            h = self.layers[i](h, memory, src_mask, tgt_mask)
        return self.norm(h)
    """,
    "Transformer.encode": """
        embedded = self.src_embedding(src).mul(math.sqrt(self.d_model))
        return self.encoder(self.pos_encoding(embedded), src_mask=src_mask)
    """,
    "Transformer.decode": """
        embedded = self.tgt_embedding(tgt).mul(math.sqrt(self.d_model))
        return self.decoder(self.pos_encoding(embedded), memory, src_mask=src_mask, tgt_mask=tgt_mask)
    """,
    "Transformer.forward": """
        masks = make_padding_mask(src, self.pad_idx), make_decoder_mask(tgt, self.pad_idx)
        hidden = self.decode(tgt, self.encode(src, masks[0]), *masks)
        return self.output_projection(hidden)
    """,
    "cell:split_heads": """
        B, L, D = x.shape
        return x.reshape(B, L, num_heads, -1).permute(0, 2, 1, 3)
    """,
    "cell:merge_heads": """
        B, H, L, Dh = x.shape
        return x.permute(0, 2, 1, 3).reshape(B, L, H * Dh)
    """,
    "cell:layer_norm": """
        centered = x - x.mean(dim=-1, keepdim=True)
        var = centered.pow(2).mean(dim=-1, keepdim=True)
        return centered * torch.rsqrt(var + eps) * weight + bias
    """,
    "cell:softmax": """
        z = x - x.max(dim=dim, keepdim=True)[0]
        num = torch.exp(z)
        return num / num.sum(dim, keepdim=True)
    """,
    "cell:gelu": """
        return x * (1 + torch.erf(x * 2 ** -0.5)) / 2
    """,
    "cell:cross_entropy": """
        keep = targets.ne(ignore_index)
        rows, labels = logits[keep], targets[keep]
        log_z = torch.logsumexp(rows, dim=-1)
        correct = rows[torch.arange(rows.size(0)), labels]
        return (log_z - correct).mean()
    """,
    "cell:train_step": """
        model.train()
        optimizer.zero_grad()
        prediction = model(x)
        loss = criterion(prediction, y)
        loss.backward()
        optimizer.step()
        return loss.item()
    """,
    "cell:eval_step": """
        model.eval()
        with torch.no_grad():
            return criterion(model(x), y).item()
    """,
    "cell:count_parameters": """
        return sum(t.numel() for t in model.parameters() if t.requires_grad)
    """,
}

INDEPENDENT = {"independent_hints": FOLLOWS_THE_HINTS, "independent_style": ANOTHER_STYLE}


def _stub_pattern(stub):
    """The stub's lines at any one indentation; group 1 is that indentation."""
    first, *rest = stub.split("\n")
    return re.compile("^([ \t]*)" + re.escape(first) + "".join(r"\n\1" + re.escape(line) for line in rest) + "$", re.M)


def _filled(text, stub, answer, where):
    """`text` with `stub` replaced by `answer` at the stub's indentation."""
    match = _stub_pattern(stub).search(text)
    if match is None:
        raise ValueError(f"{where}: the skeleton no longer holds the stub {stub.splitlines()[-1]!r}")
    body = textwrap.indent(textwrap.dedent(answer).strip("\n"), match.group(1))
    return text[: match.start()] + body + text[match.end():]


def build_from_skeleton(answers, target):
    """Write a submission folder at `target`: the released skeleton with the stubs named in `answers` replaced
    (the others left as released, as by a student who did only part of the work)."""
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(ASSIGNMENTS / "transformer", target / "transformer", ignore=shutil.ignore_patterns("__pycache__"))
    left = dict(answers)
    for path in sorted((target / "transformer").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r'raise NotImplementedError\("未実装: ([\w.]+)"\)', text):
            if name in left:
                text = _filled(text, PYTHON_STUB.replace(NAME_PLACEHOLDER, name), left.pop(name), path.name)
        path.write_text(text, encoding="utf-8")
    notebook = nbformat.read(ASSIGNMENTS / NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if f"cell:{grade_id}" in left:
            cell.source = _filled(cell.source, NOTEBOOK_STUB, left.pop(f"cell:{grade_id}"), grade_id)
    if left:
        raise ValueError(f"answers with no stub in the skeleton: {sorted(left)}")
    nbformat.write(notebook, target / NOTEBOOK)
    return target
