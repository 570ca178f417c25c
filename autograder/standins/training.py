"""The teacher-forced loss, as a stand-in for the training loop units."""


def sequence_loss(model, src, tgt, criterion):
    logits = model(src, tgt[:, :-1])  # (B, T-1, V)
    return criterion(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1))
