"""The per-pixel trainer shared by the budget's decoders and the pooled decoder: its orders of pixels, its
refusals, and a decoder's training that leaves the caller's random state alone."""

import numpy as np
import pytest
import torch

from xrfnb.evaluation import pixel_decoders
from xrfnb.models import pixel_training


def test_passes_show_every_pixel_once_a_pass_in_a_new_order():
    passes = pixel_training.Passes(10, 4, 2, torch.Generator().manual_seed(0))
    batches = list(passes)
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2] and len(passes) == len(batches)
    first, second = torch.cat(batches[:3]), torch.cat(batches[3:])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(10))
    assert not torch.equal(first, second)


def test_draws_give_the_steps_asked_for_whatever_the_pixels():
    batches = pixel_training.drawn(5, 8, 3, torch.Generator().manual_seed(0))
    drawn = list(batches)
    assert len(batches) == len(drawn) == 3 and all(len(b) == 8 for b in drawn)
    assert set(sum(drawn, [])) <= set(range(5))  # with replacement: 24 draws from 5 pixels


def test_pixels_refuse_unmatched_colours():
    with pytest.raises(ValueError, match="as many colours as inputs"):
        pixel_training.Pixels(torch.zeros(4, 3), torch.zeros(3, 3))


def test_a_decoder_trains_with_its_own_seed_and_leaves_the_global_random_state_alone():
    x = np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32)
    y = np.repeat(1 / (1 + np.exp(-x[:, :1])), 3, axis=1)
    recipe = pixel_decoders.PixelRecipe(hidden=8, epochs=2, batch=64)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    model = pixel_decoders.fit(x, y, recipe, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    other = pixel_decoders.fit(x, y, recipe, seed=2)
    assert not np.array_equal(pixel_decoders.predict(model, x), pixel_decoders.predict(other, x))
