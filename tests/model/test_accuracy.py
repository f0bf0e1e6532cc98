"""Predictions over draws: several draws of one generator share a call, each row with noise of its own."""
import pytest
import torch

from conftest import Linear
from idc_lite.model.accuracy import predictions_over_draws


@pytest.mark.parametrize("batch_size, calls", [(8, [8, 8, 4]), (256, [20]), (4, [4] * 5), (3, [3, 1] * 5)])
def test_draws_of_one_generator_share_a_call_and_each_row_keeps_its_own_noise(batch_size, calls):
    model, x = Linear(noise_std=3.0, record_noise=True), torch.rand(4, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    predictions = predictions_over_draws(model, x, [g] * 5, batch_size)
    assert predictions.shape == (5, 4) and [len(n) for n in model.noise] == calls
    noise = torch.cat(model.noise).view(5, 4, 4)         # draw k of image i: row 4k + i, in call order
    with torch.no_grad():
        expected = (x.flatten(1) @ model.weight.T + noise).argmax(2)
    assert torch.equal(predictions, expected)
    assert not torch.equal(noise[0], noise[1])           # fresh noise for each draw


def test_draws_of_different_generators_are_a_pass_each():
    model, x = Linear(noise_std=3.0, record_noise=True), torch.rand(4, 1, 8, 8)
    generators = [torch.Generator().manual_seed(s) for s in range(3)]
    predictions = predictions_over_draws(model, x, generators, 256)
    assert predictions.shape == (3, 4) and [len(n) for n in model.noise] == [4, 4, 4]
    again = predictions_over_draws(Linear(noise_std=3.0, record_noise=True), x, [torch.Generator().manual_seed(1)], 256)
    assert torch.equal(predictions[1], again[0])          # draw 1 is generator 1's pass, as alone
