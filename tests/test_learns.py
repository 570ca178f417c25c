"""The reference Transformer learns the reverse task: judged by greedy exact match on held-out sequences."""

import pytest
import torch

from autograder.authoring.toy_training import ToyConfig, train_toy


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_reference_transformer_learns_to_reverse(one_thread):
    report, model = train_toy(ToyConfig(task="reverse"), progress=False)
    assert report.final_accuracy >= 0.99, f"held-out exact match {report.final_accuracy:.1%} after {report.seconds[-1]:.0f} s"
