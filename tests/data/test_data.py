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


def test_the_digits_are_scikit_learns_read_without_importing_sklearn_datasets(monkeypatch):
    """The kit reads scikit-learn's own digits file; the result equals ``sklearn.datasets.load_digits``, in a
    process that never imports sklearn.datasets (slow to import: every kernel would pay for it).  Where the file is
    not found, scikit-learn's function gives the same table."""
    import importlib.util
    import subprocess
    import sys

    import numpy as np
    from sklearn.datasets import load_digits as sk_load_digits

    from idc_lite.data.datasets import digits_table

    bunch = sk_load_digits()
    table = digits_table()
    assert table.shape == (1797, 65)
    assert np.array_equal(table[:, :64], bunch.data) and np.array_equal(table[:, 64], bunch.target)
    split = load_digits(image_size=8)
    pixels = torch.cat([split.x_train, split.x_test]).flatten(1).sort(0).values
    assert torch.equal(pixels, torch.from_numpy(bunch.data.astype("float32") / 16).sort(0).values)
    code = ("import sys; from idc_lite.data.datasets import load_digits; load_digits(); "
            "print('sklearn.datasets' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)      # no file where scikit-learn keeps it
    assert np.array_equal(digits_table(), table)


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
