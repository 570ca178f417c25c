"""train_one_epoch, evaluate and greedy_decode against hand-written loops and properties."""

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB = 12


def _model(ref, dropout=0.1, seed=0):
    torch.manual_seed(seed)
    return ref.Transformer(VOCAB, VOCAB, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=24, max_len=20, dropout=dropout)


def _batches(ref, count=3):
    train, _ = ref.data.make_split("reverse", 8 * count, 1, num_symbols=VOCAB - 3, max_len=6, seed=1)
    return [ref.data.collate(train[i * 8 : (i + 1) * 8]) for i in range(count)]


def _hand_unrolled_epoch(model, batches, optimizer, scheduler=None, max_grad_norm=None):
    model.train()
    losses = []
    for src, tgt in batches:
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def _assert_same_parameters(first, second):
    for (name, p), q in zip(first.named_parameters(), second.parameters()):
        assert torch.equal(p, q), f"{name} differs"


def test_train_one_epoch_equals_a_hand_unrolled_loop(ref):
    ours, hand = _model(ref), _model(ref)
    ours.eval()  # train_one_epoch must switch to training mode itself (dropout is on)
    batches = _batches(ref)
    criterion = nn.CrossEntropyLoss(ignore_index=ref.PAD_IDX)
    for epoch in range(2):
        torch.manual_seed(10 + epoch)
        loss = ref.train_one_epoch(ours, batches, torch.optim.Adam(ours.parameters()), criterion)
        torch.manual_seed(10 + epoch)
        hand_loss = _hand_unrolled_epoch(hand, batches, torch.optim.Adam(hand.parameters()))
        assert isinstance(loss, float) and loss == hand_loss
    _assert_same_parameters(ours, hand)


def test_train_one_epoch_with_scheduler_and_clipping(ref):
    ours, hand = _model(ref), _model(ref)
    batches = _batches(ref)
    criterion = nn.CrossEntropyLoss(ignore_index=ref.PAD_IDX)

    def optimizer_and_scheduler(model):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (step + 1))

    optimizer, scheduler = optimizer_and_scheduler(ours)
    torch.manual_seed(3)
    loss = ref.train_one_epoch(ours, batches, optimizer, criterion, scheduler=scheduler, max_grad_norm=0.1)
    hand_optimizer, hand_scheduler = optimizer_and_scheduler(hand)
    torch.manual_seed(3)
    hand_loss = _hand_unrolled_epoch(hand, batches, hand_optimizer, hand_scheduler, max_grad_norm=0.1)
    assert loss == hand_loss
    assert scheduler.last_epoch == len(batches)
    _assert_same_parameters(ours, hand)


def test_evaluate_changes_nothing_and_runs_in_eval_mode_without_graph(ref):
    model = _model(ref)
    model.train()
    batches = _batches(ref)
    before = {name: p.clone() for name, p in model.named_parameters()}
    seen = []
    model.register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_grad_enabled(), o.requires_grad)))
    rng_before = torch.get_rng_state()
    loss = ref.evaluate(model, batches, nn.CrossEntropyLoss(ignore_index=ref.PAD_IDX))
    assert torch.equal(torch.get_rng_state(), rng_before), "evaluate must not draw random numbers (dropout off)"
    assert seen and all(state == (False, False, False) for state in seen)
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) and p.grad is None, name
    with torch.no_grad():
        expected = [
            F.cross_entropy(model(src, tgt[:, :-1]).reshape(-1, VOCAB), tgt[:, 1:].reshape(-1), ignore_index=0).item()
            for src, tgt in batches
        ]
    assert isinstance(loss, float) and loss == sum(expected) / len(expected)


def test_greedy_decode_follows_the_model_argmax(ref):
    """Each decoded token is the argmax of the model's own forward on the prefix decoded so far."""
    model = _model(ref, dropout=0.0, seed=4)
    src, _ = _batches(ref, 1)[0]
    decoded = ref.greedy_decode(model, src, max_len=9)
    assert decoded.dtype == torch.long and decoded.shape[0] == src.shape[0] and decoded.shape[1] <= 9
    assert (decoded[:, 0] == ref.BOS_IDX).all()
    with torch.no_grad():
        for t in range(1, decoded.size(1)):
            prefix = decoded[:, :t]
            finished = (prefix == ref.EOS_IDX).any(dim=1)
            expected = model(src, prefix)[:, -1].argmax(-1)
            assert torch.equal(decoded[~finished, t], expected[~finished]), f"step {t}"
            assert (decoded[finished, t] == ref.PAD_IDX).all(), f"step {t}: only PAD may follow EOS"


def test_greedy_decode_stops_when_every_row_has_ended(ref):
    model = _model(ref, dropout=0.0)
    with torch.no_grad():  # make EOS the only possible prediction
        model.output_projection.weight.zero_()
        model.output_projection.bias.fill_(0.0)
        model.output_projection.bias[ref.EOS_IDX] = 1.0
    decoded = ref.greedy_decode(model, torch.tensor([[3, 4, 5], [6, 0, 0]]), max_len=10)
    assert decoded.tolist() == [[ref.BOS_IDX, ref.EOS_IDX], [ref.BOS_IDX, ref.EOS_IDX]]


def test_get_device_prefers_cuda_then_mps(ref):
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert ref.get_device().type == expected
