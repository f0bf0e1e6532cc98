"""idc_lite.data.image_folders: a folder of class folders, or a .tar.gz of one, as a dataset, decoded once."""
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import idc_lite.data.image_folders as image_folders
from idc_lite.data.datasets import load_dataset
from idc_lite.data.image_folders import load_image_folder
from idc_lite.foundation.errors import DataError, DataNotFoundError, InputError


def _write(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _images(seed: int, n: int, channels: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (8, 8) if channels == 1 else (8, 8, 3)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def _split_folder(root: Path) -> dict:
    """train/ and test/ with classes 'b_cat' and 'a_dog' (sorted order: a_dog = 0), RGB PNGs."""
    written = {}
    for split, n in (("train", 3), ("test", 2)):
        for k, cls in enumerate(("b_cat", "a_dog")):
            for i, pixels in enumerate(_images(10 * k + n, n, 3)):
                _write(root / split / cls / f"{i}.png", pixels)
                written[(split, cls, i)] = pixels
    return written


def test_split_folders_load_as_given_with_sorted_classes_and_exact_pixels(tmp_path):
    written = _split_folder(tmp_path / "pets")
    data = load_image_folder(tmp_path / "pets", cache_dir=tmp_path / "cache")
    assert data.class_names == ["a_dog", "b_cat"] and data.image_shape == (3, 8, 8)
    assert (len(data.y_train), len(data.y_test)) == (6, 4) and sorted(data.y_train.tolist()) == [0, 0, 0, 1, 1, 1]
    for (split, cls, _), pixels in written.items():     # every image once, in its split, with its class's label
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        hits = [j for j in range(len(y)) if torch.equal(x[j], torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)]
        assert len(hits) == 1 and y[hits[0]] == data.class_names.index(cls)
    # shuffled (seeded), so that "the first N test images" the notebooks evaluate are not all of one class
    assert data.y_train.tolist() != sorted(data.y_train.tolist())
    assert torch.equal(load_image_folder(tmp_path / "pets", cache_dir=tmp_path / "cache").y_train, data.y_train)
    assert load_image_folder(tmp_path / "pets", seed=1, cache_dir=tmp_path / "cache").y_train.tolist() != data.y_train.tolist()
    assert data.info["split"] == "the source's train/ and test/ folders, shuffled with seed 0"
    assert data.info["source"] == "image folder"
    assert data.info["fingerprint"].startswith("files:") and "path" not in data.info   # moving the data keeps the record
    resized = load_image_folder(tmp_path / "pets", image_size=16, cache_dir=tmp_path / "cache")
    assert resized.image_shape == (3, 16, 16) and 0.0 <= resized.x_train.min() <= resized.x_train.max() <= 1.0


def test_the_cache_is_used_while_the_source_is_unchanged_and_renewed_when_it_changes(tmp_path, monkeypatch):
    written = _split_folder(tmp_path / "pets")
    first = load_image_folder(tmp_path / "pets", cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("pets-*.pt"))) == 1
    real_decode = image_folders._decode

    def must_not_decode(*args):
        raise AssertionError("decoded again although the source did not change")

    monkeypatch.setattr(image_folders, "_decode", must_not_decode)
    again = load_image_folder(tmp_path / "pets", cache_dir=tmp_path / "cache")
    assert torch.equal(first.x_train, again.x_train) and first.info == again.info
    changed = written[("test", "b_cat", 1)].copy()
    changed[0, 0] = 255 - changed[0, 0]
    _write(tmp_path / "pets" / "test" / "b_cat" / "1.png", changed)
    monkeypatch.setattr(image_folders, "_decode", real_decode)
    renewed = load_image_folder(tmp_path / "pets", cache_dir=tmp_path / "cache")
    assert renewed.info["fingerprint"] != first.info["fingerprint"]
    changed_image = torch.from_numpy(changed).permute(2, 0, 1).float() / 255
    assert any(torch.equal(image, changed_image) for image in renewed.x_test)
    for cache in (tmp_path / "cache").glob("*.pt"):       # a corrupt cache is decoded again, never trusted
        cache.write_bytes(b"not a torch file")
    assert torch.equal(load_image_folder(tmp_path / "pets", cache_dir=tmp_path / "cache").x_test, renewed.x_test)


def test_a_tar_gz_of_class_folders_is_split_by_the_kit_in_greyscale(tmp_path, monkeypatch):
    folder = tmp_path / "src" / "shapes"            # one top-level folder in the archive, then <class>/<image>
    for k, cls in enumerate(("circle", "square", "triangle")):
        for i, pixels in enumerate(_images(k, 10, 1)):
            _write(folder / cls / f"{i}.png", pixels)
    archive = tmp_path / "shapes.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="shapes")
    data = load_image_folder(archive, test_fraction=0.2, seed=3, cache_dir=tmp_path / "cache")
    assert data.image_shape == (1, 8, 8) and data.class_names == ["circle", "square", "triangle"]
    assert (len(data.y_train), len(data.y_test)) == (24, 6) and sorted(data.y_test.tolist()) == [0, 0, 1, 1, 2, 2]
    assert data.info["source"] == "image folder archive" and data.info["fingerprint"].startswith("sha256:")
    assert "stratified" in data.info["split"]
    from_folder = load_image_folder(folder, test_fraction=0.2, seed=3, cache_dir=tmp_path / "cache")
    assert torch.equal(from_folder.x_train, data.x_train) and torch.equal(from_folder.y_test, data.y_test)
    monkeypatch.setenv(image_folders.CACHE_ENV, str(tmp_path / "env-cache"))   # the default cache, kept out of $HOME
    via_name = load_dataset("image_folder", root=archive)
    default_split = load_image_folder(archive, cache_dir=tmp_path / "cache")          # test fraction 0.2, seed 0
    assert torch.equal(via_name.x_test, default_split.x_test) and not torch.equal(via_name.x_test, data.x_test)
    assert len(list((tmp_path / "env-cache").glob("shapes-*.pt"))) == 1


def test_bad_sources_get_clear_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="no image folder or archive"):
        load_image_folder(tmp_path / "missing", cache_dir=tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image files"):
        load_image_folder(tmp_path / "empty", cache_dir=tmp_path / "cache")
    _write(tmp_path / "sizes" / "a" / "0.png", np.zeros((8, 8), np.uint8))
    _write(tmp_path / "sizes" / "b" / "0.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="different sizes"):
        load_image_folder(tmp_path / "sizes", cache_dir=tmp_path / "cache")
    _write(tmp_path / "broken" / "a" / "0.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "broken" / "b").mkdir()
    (tmp_path / "broken" / "b" / "0.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(DataError, match="cannot decode the image .*0.png"):
        load_image_folder(tmp_path / "broken", cache_dir=tmp_path / "cache")
    (tmp_path / "bad.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="cannot read the archive"):
        load_image_folder(tmp_path / "bad.tar.gz", cache_dir=tmp_path / "cache")
    _write(tmp_path / "onlytrain" / "train" / "a" / "0.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="only a train/ folder"):
        load_image_folder(tmp_path / "onlytrain", cache_dir=tmp_path / "cache")
    with pytest.raises(InputError, match="needs root"):
        load_dataset("image_folder")
    assert not list((tmp_path / "cache").glob("*.pt"))   # nothing half-decoded was cached


def test_the_cifar10_jpeg_copy_loads_with_its_official_split_and_statistics(tmp_path, cifar10_jpeg_archive):
    data = load_image_folder(cifar10_jpeg_archive, cache_dir=tmp_path / "cache", name="cifar10 (JPEG copy)")
    assert data.class_names == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert (len(data.y_train), len(data.y_test), data.image_shape) == (50_000, 10_000, (3, 32, 32))
    assert torch.bincount(data.y_test).tolist() == [1000] * 10
    assert torch.bincount(data.y_test[:100], minlength=10).min() >= 3   # shuffled: the first 100 hold every class
    means = data.x_test.mean(dim=(0, 2, 3))   # its README: 0.4941 / 0.4851 / 0.4504
    assert torch.allclose(means, torch.tensor([0.4941, 0.4851, 0.4504]), atol=2e-4)


def test_a_named_dataset_reads_a_copy_in_class_folders_and_reports_say_which(tmp_path, monkeypatch):
    """load_dataset('cifar10', root=...) on an archive or folder of class folders: a copy of CIFAR-10,
    checked against its classes, named 'CIFAR-10 (JPEG copy)' in reports; reloadable from its record."""
    from idc_lite.data.datasets import CIFAR10_CLASSES, dataset_label, is_image_folder_source, same_data

    monkeypatch.setenv(image_folders.CACHE_ENV, str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for cls in CIFAR10_CLASSES:
            for i in range(n):
                path = tmp_path / "copy" / split / cls / f"{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path, quality=95)
    assert is_image_folder_source(tmp_path / "copy") and not is_image_folder_source(tmp_path / "nothing-here")
    assert is_image_folder_source(tmp_path)          # the copy sits below it, at the depth of <top>/train/<class>/<image>
    (tmp_path / "cifar-10-batches-py").mkdir()       # ...but torchvision's own folder beside it wins
    with pytest.raises(DataNotFoundError, match=r"CIFAR10 \(train split\) is not under"):   # (empty: torchvision's error)
        load_dataset("cifar10", root=tmp_path)
    (tmp_path / "cifar-10-batches-py").rmdir()
    data = load_dataset("cifar10", root=tmp_path / "copy")
    assert data.class_names == CIFAR10_CLASSES and data.info["dataset"] == "cifar10" and data.info["formats"] == ["JPEG"]
    assert dataset_label(data.info) == "CIFAR-10 (JPEG copy)"
    assert dataset_label({"dataset": "cifar10", "source": "torchvision.datasets.CIFAR10"}) == "CIFAR-10 (torchvision)"
    assert dataset_label({"dataset": "digits"}) == "digits (scikit-learn)"
    moved = tmp_path / "moved"
    (tmp_path / "copy").rename(moved)
    again = load_dataset("cifar10", root=moved)
    assert same_data(again.info, data.info) and again.info["root"] != data.info["root"]   # moving keeps the identity
    for split in ("train", "test"):
        (moved / split / "truck").rename(moved / split / "lorry")
    with pytest.raises(DataError, match="not CIFAR-10's"):
        load_dataset("cifar10", root=moved)
    with pytest.raises(DataError, match="CIFAR-100 has 100"):
        load_dataset("cifar100", root=moved)


def test_first_training_examples_keeps_the_test_split_and_says_so():
    data = load_dataset("digits")
    small = data.first_training_examples(100)
    assert torch.equal(small.x_train, data.x_train[:100]) and torch.equal(small.x_test, data.x_test)
    assert small.info["n_train"] == 100 and "first 100 of 1438" in small.info["train_subset"]
    assert data.first_training_examples(0) is data and data.first_training_examples(10**6) is data
    with pytest.raises(InputError):
        data.first_training_examples(-1)
