"""Notebook 00's from-scratch functions against PyTorch's own, in float32 and float64, on every device."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from oracles import assert_close


def test_softmax_matches_torch(basics, device, dtype):
    x = torch.randn(2, 3, 5, device=device, dtype=dtype)
    for dim in (-1, 0, 1):
        assert_close(basics.softmax(x, dim=dim), torch.softmax(x, dim=dim))


def test_softmax_is_stable_for_huge_inputs(basics, device, dtype):
    x = torch.tensor([[1e4, -1e4, 0.0], [1e4, 1e4 - 1.0, -1e4]], device=device, dtype=dtype)
    result = basics.softmax(x)
    assert torch.isfinite(result).all()
    assert_close(result, torch.softmax(x, dim=-1))


def test_layer_norm_matches_torch(basics, device, dtype):
    x = torch.randn(2, 3, 8, device=device, dtype=dtype) * 3 + 1
    weight = torch.randn(8, device=device, dtype=dtype)
    bias = torch.randn(8, device=device, dtype=dtype)
    for eps in (1e-5, 1e-1):
        assert_close(basics.layer_norm(x, weight, bias, eps=eps), F.layer_norm(x, (8,), weight, bias, eps=eps))


def test_gelu_is_the_exact_erf_form(basics, device, dtype):
    x = torch.linspace(-6, 6, 101, device=device, dtype=dtype)
    assert_close(basics.gelu(x), F.gelu(x, approximate="none"))


def test_cross_entropy_matches_torch_with_ignore_index(basics, device, dtype):
    logits = torch.randn(7, 5, device=device, dtype=dtype) * 4
    targets = torch.tensor([0, 4, -100, 2, -100, 1, 3], device=device)
    assert_close(basics.cross_entropy(logits, targets), F.cross_entropy(logits, targets))
    pad_targets = torch.where(targets == -100, 0, targets)
    pad_targets[0] = 3
    assert_close(
        basics.cross_entropy(logits, pad_targets, ignore_index=0),
        F.cross_entropy(logits, pad_targets, ignore_index=0),
    )


def test_cross_entropy_with_all_targets_but_one_ignored(basics, device, dtype):
    logits = torch.randn(4, 6, device=device, dtype=dtype)
    targets = torch.tensor([-100, -100, 5, -100], device=device)
    assert_close(basics.cross_entropy(logits, targets), F.cross_entropy(logits, targets))


def test_cross_entropy_gradient_matches_torch(basics, dtype):
    logits = torch.randn(6, 4, dtype=dtype, requires_grad=True)
    targets = torch.tensor([1, 0, 3, -100, 2, 2])
    (ours,) = torch.autograd.grad(basics.cross_entropy(logits, targets), logits)
    (theirs,) = torch.autograd.grad(F.cross_entropy(logits, targets), logits)
    assert_close(ours, theirs)


def test_split_heads_is_view_then_transpose(basics, device):
    B, L, H, D = 2, 3, 4, 20  # all different, so a wrong axis cannot hide
    x = torch.randn(B, L, D, device=device)
    heads = basics.split_heads(x, H)
    assert torch.equal(heads, x.view(B, L, H, D // H).transpose(1, 2))


@pytest.mark.parametrize(
    "wrong_split",
    [
        lambda x, H: x.transpose(1, 2).reshape(x.size(0), H, x.size(1), -1),  # transpose only
        lambda x, H: x.reshape(x.size(0), H, x.size(1), -1),  # reshape without transpose
    ],
    ids=["transpose-only", "reshape-without-transpose"],
)
def test_wrong_splits_are_told_apart(wrong_split):
    """The equality used above fails for the two classic wrong splits."""
    x = torch.randn(2, 3, 20)
    assert not torch.equal(wrong_split(x, 4), x.view(2, 3, 4, 5).transpose(1, 2))


def test_merge_heads_inverts_split_heads(basics, device):
    x = torch.randn(2, 3, 20, device=device)
    assert torch.equal(basics.merge_heads(basics.split_heads(x, 4)), x)
    heads = torch.randn(2, 4, 3, 5, device=device)
    assert torch.equal(basics.split_heads(basics.merge_heads(heads), 4), heads)


def test_count_parameters_counts_only_trainable(basics):
    model = nn.Sequential(nn.Linear(3, 4), nn.Embedding(10, 2), nn.LayerNorm(4))
    assert basics.count_parameters(model) == (3 * 4 + 4) + 10 * 2 + (4 + 4)
    model[1].weight.requires_grad_(False)
    assert basics.count_parameters(model) == (3 * 4 + 4) + (4 + 4)


def _twin_models():
    torch.manual_seed(1)
    first = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    second = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    second.load_state_dict(first.state_dict())
    return first, second


def test_train_step_matches_a_hand_written_step(basics):
    ours, hand = _twin_models()
    ours.eval()  # train_step itself must switch to training mode
    x, y = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    criterion = nn.CrossEntropyLoss()
    ours_optimizer = torch.optim.Adam(ours.parameters(), lr=0.1)
    hand_optimizer = torch.optim.Adam(hand.parameters(), lr=0.1)
    for _ in range(3):
        torch.manual_seed(2)
        loss = basics.train_step(ours, x, y, criterion, ours_optimizer)
        torch.manual_seed(2)
        hand.train()
        hand_optimizer.zero_grad()
        hand_loss = criterion(hand(x), y)
        hand_loss.backward()
        hand_optimizer.step()
        assert isinstance(loss, float) and loss == hand_loss.item()
    for p, q in zip(ours.parameters(), hand.parameters()):
        assert torch.equal(p, q)


def test_eval_step_uses_eval_mode_and_no_graph(basics):
    model, _ = _twin_models()
    before = [p.clone() for p in model.parameters()]
    seen = {}
    model.register_forward_hook(lambda m, i, o: seen.update(training=m.training, grad=torch.is_grad_enabled()))
    x, y = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    loss = basics.eval_step(model, x, y, nn.CrossEntropyLoss())
    assert seen == {"training": False, "grad": False}
    assert isinstance(loss, float)
    model.eval()
    assert loss == nn.CrossEntropyLoss()(model(x), y).item()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
