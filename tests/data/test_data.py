import pytest
import torch

from idc_lite.data.datasets import DATA_ROOT_ENV, load_dataset, load_digits, load_torchvision
from idc_lite.data.splits import stratified_split
from idc_lite.foundation.errors import DataNotFoundError


def test_digits_default_split_is_fixed_and_stratified():
    a, b = load_digits(), load_digits()
    assert a.x_train.shape == (1438, 1, 16, 16) and a.x_test.shape == (359, 1, 16, 16)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert 0.0 <= float(a.x_train.min()) and float(a.x_train.max()) <= 1.0
    counts = torch.bincount(a.y_test, minlength=10)
    assert int(counts.min()) >= 34 and int(counts.max()) <= 37          # ~20 % of each class
    other = load_digits(seed=1)
    assert not torch.equal(other.y_test, a.y_test)
    assert a.info["split_seed"] == 0 and a.class_names == [str(i) for i in range(10)]


def test_stratified_split_is_a_partition():
    import numpy as np
    labels = np.array([0] * 10 + [1] * 20)
    train, test = stratified_split(labels, 0.2, 0)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(30))
    assert (labels[test] == 0).sum() == 2 and (labels[test] == 1).sum() == 4


def test_missing_torchvision_data_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    with pytest.raises(DataNotFoundError) as err:
        load_torchvision("cifar10", root=tmp_path)
    message = str(err.value)
    assert str(tmp_path.resolve()) in message and "download=True" in message and DATA_ROOT_ENV in message


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "from-env"))
    with pytest.raises(DataNotFoundError, match="from-env"):
        load_torchvision("mnist")


def test_real_mnist_offline_copy(mnist_root):
    data = load_torchvision("mnist", root=mnist_root, image_size=16)
    assert data.x_train.shape == (60000, 1, 16, 16) and data.x_test.shape == (10000, 1, 16, 16)
    assert int((data.y_train == 1).sum()) == 6742
    full = load_torchvision("mnist", root=mnist_root)
    assert abs(float(full.x_train.mean()) - 0.1307) < 1e-3
