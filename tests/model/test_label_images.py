import pytest
import torch

from idc_lite.model.label_images import label_image_diagnostics, make_label_images


def test_shape_range_and_per_image_minmax():
    imgs = make_label_images(10, (3, 8, 8))
    assert imgs.shape == (10, 3, 8, 8) and imgs.dtype == torch.float32
    assert torch.allclose(imgs.amin(dim=(1, 2, 3)), torch.zeros(10))
    assert torch.allclose(imgs.amax(dim=(1, 2, 3)), torch.ones(10))


def test_seeded_and_independent_of_global_rng():
    torch.manual_seed(123)
    a = make_label_images(5, (1, 4, 4))
    torch.manual_seed(999)
    b = make_label_images(5, (1, 4, 4))
    assert torch.equal(a, b)
    assert not torch.equal(a, make_label_images(5, (1, 4, 4), seed=1))


def test_columns_orthogonal_before_minmax_but_not_after():
    imgs = make_label_images(6, (1, 8, 8))
    diag = label_image_diagnostics(imgs)
    # min-max makes all pixels positive: cosine similarity is far from 0
    assert diag["max_off_diagonal_cosine"] > 0.5
    assert diag["min_off_diagonal_distance"] > 0.05
    assert torch.allclose(diag["mean_abs_distance"].diagonal(), torch.zeros(6))
    assert torch.allclose(diag["cosine"], diag["cosine"].T)


def test_too_many_classes_is_a_clear_error():
    with pytest.raises(ValueError, match="orthogonal"):
        make_label_images(20, (1, 4, 4))
