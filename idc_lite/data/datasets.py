"""Datasets as in-memory tensors: images (N, C, H, W) float32 in [0, 1] and labels (N,) long.

Default: scikit-learn's bundled 8x8 digits (no internet needed), resized to 16x16, with a fixed
stratified train/test split.  MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 come through
torchvision from a data root: the ``root`` argument, else the ``IDC_LITE_DATA`` environment
variable, else ``data/`` in the repository (relative roots are relative to the repository too, so a
kernel started in ``notebooks/`` finds the same data as the command line).  Nothing is downloaded
unless ``download=True`` is passed.  A copy of one of them as image files in class folders (a folder
or a .tar.gz) is read instead when the root points at it (see :mod:`idc_lite.data.image_folders`).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from idc_lite.data.splits import DataSplit, resize_images, stratified_split
from idc_lite.foundation.errors import DataError, DataNotFoundError, InputError
from idc_lite.foundation.validation import check_fraction, check_int

DATA_ROOT_ENV = "IDC_LITE_DATA"


TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10", "cifar100": "CIFAR100"}


TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py",
                       "cifar100": "cifar-100-python"}     # what torchvision keeps under its root


DIGIT_NAMES = [str(i) for i in range(10)]


DISPLAY_NAMES = {"digits": "digits", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "cifar100": "CIFAR-100"}


CLASS_COUNTS = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def load_digits(image_size: int = 16, test_fraction: float = 0.2, seed: int = 0) -> DataSplit:
    """scikit-learn's 1,797 bundled 8x8 digits, scaled to [0, 1] (raw values are 0..16), resized."""
    check_int(image_size, "image_size", 4)
    check_fraction(test_fraction, "test_fraction")
    check_int(seed, "seed", 0)
    table = digits_table()
    images = torch.from_numpy(table[:, :64].astype(np.float32).reshape(-1, 8, 8) / 16.0).unsqueeze(1)
    labels = table[:, 64].astype(np.int64)
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    images = resize_images(images, image_size)
    y = torch.from_numpy(labels)
    info = {"dataset": "digits", "source": "sklearn.datasets.load_digits", "image_size": image_size,
            "split": "stratified", "test_fraction": test_fraction, "split_seed": seed,
            "n_train": len(train_idx), "n_test": len(test_idx)}
    return DataSplit(images[train_idx], y[train_idx], images[test_idx], y[test_idx], DIGIT_NAMES, info)


def digits_table() -> np.ndarray:
    """scikit-learn's digits as its own file holds them: (1797, 65), each row 64 pixel values 0..16 (8x8, row by
    row), then the label.  Read straight from the installed scikit-learn (the same file and parser as
    ``sklearn.datasets.load_digits``): importing ``sklearn.datasets`` takes longer than every kernel's other data
    loading together.  Falls back to that function where the file is not where scikit-learn keeps it."""
    spec = importlib.util.find_spec("sklearn")          # finds the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return np.loadtxt(path, delimiter=",")
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return np.column_stack([bunch.data, bunch.target])


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$IDC_LITE_DATA``, else ``data/`` in the repository
    (see :func:`idc_lite.foundation.runtime.resolve_path`)."""
    from idc_lite.foundation.runtime import resolve_path

    return resolve_path(root or os.environ.get(DATA_ROOT_ENV) or "data")


def load_torchvision(name: str, root: str | os.PathLike | None = None, image_size: int | None = None,
                     download: bool = False) -> DataSplit:
    """Load MNIST / Fashion-MNIST / CIFAR-10 / CIFAR-100 from ``root`` with torchvision.

    Images become float32 (N, C, H, W) in [0, 1] (resized when ``image_size`` is given); the
    official train/test split is kept.  Raises :class:`DataNotFoundError` with instructions
    when the files are missing and ``download`` is False (or the download fails offline).
    """
    import torchvision

    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key not in TORCHVISION_DATASETS:
        raise InputError(f"unknown dataset {name!r}; choose one of {['digits', *TORCHVISION_DATASETS]}")
    if image_size is not None:
        check_int(image_size, "image_size", 4)
    cls = getattr(torchvision.datasets, TORCHVISION_DATASETS[key])
    data_root = resolve_data_root(root)
    splits = []
    for train in (True, False):
        try:
            ds = cls(str(data_root), train=train, download=download)
        except RuntimeError as err:
            raise DataNotFoundError(
                f"{TORCHVISION_DATASETS[key]} ({'train' if train else 'test'} split) is not under {data_root.resolve()} "
                f"({err}). Either download it once on a machine with internet "
                f"(idc_lite.data.datasets.load_torchvision({name!r}, root=..., download=True), or torchvision.datasets."
                f"{TORCHVISION_DATASETS[key]}(root, download=True)), or point the kit at a folder that has it: "
                f"pass root=... or set the {DATA_ROOT_ENV} environment variable.") from err
        except OSError as err:  # download attempted without a network
            raise DataNotFoundError(f"could not download {TORCHVISION_DATASETS[key]} to {data_root} ({err}); "
                                    f"copy the dataset there by hand or set {DATA_ROOT_ENV}.") from err
        except Exception as err:  # files present but empty, truncated or of another format
            raise DataError(f"the {TORCHVISION_DATASETS[key]} files under {data_root} cannot be read "
                            f"({type(err).__name__}: {err}); they are corrupt or incomplete: delete them and copy or "
                            "download them again") from err
        data = torch.as_tensor(np.asarray(ds.data))
        if data.numel() == 0 or len(ds.targets) != data.shape[0]:
            raise DataError(f"the {TORCHVISION_DATASETS[key]} files under {data_root} hold {data.shape[0]} images and "
                            f"{len(ds.targets)} labels; they are corrupt or incomplete: delete them and copy them again")
        if data.dim() == 3:            # MNIST-like (N, H, W) uint8
            x = data.unsqueeze(1).float() / 255.0
        else:                          # CIFAR (N, H, W, C) uint8
            x = data.permute(0, 3, 1, 2).float() / 255.0
        if image_size is not None:
            x = resize_images(x, image_size)
        splits.append((x.contiguous(), torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)))
    (x_train, y_train), (x_test, y_test) = splits
    info = {"dataset": key, "source": f"torchvision.datasets.{TORCHVISION_DATASETS[key]}", "root": str(data_root),
            "image_size": int(x_train.shape[-1]), "split": "official", "n_train": len(y_train), "n_test": len(y_test)}
    return DataSplit(x_train, y_train, x_test, y_test, list(ds.classes), info)


def is_image_folder_source(root: str | os.PathLike) -> bool:
    """True when ``root`` is a .tar.gz, or a folder with image files within four levels (class folders,
    perhaps under train/ and test/), rather than torchvision's files (which carry no image suffix)."""
    from idc_lite.data.image_folders import IMAGE_SUFFIXES

    path = Path(root).expanduser()
    if path.is_file():
        return path.name.endswith((".tar.gz", ".tgz"))
    if not path.is_dir():
        return False
    return any(p.suffix.lower() in IMAGE_SUFFIXES
               for depth in range(1, 5) for p in path.glob("/".join(["*"] * depth)))


def load_named_image_folder(name: str, root: str | os.PathLike, image_size: int | None = None) -> DataSplit:
    """A copy of a named dataset (e.g. CIFAR-10 as JPEG files in class folders) read as an image folder:
    its class folders must be the dataset's classes (CIFAR-10: by name, in label order)."""
    from idc_lite.data.image_folders import load_image_folder

    data = load_image_folder(root, image_size=image_size, name=name)
    expected = CLASS_COUNTS[name]
    if data.num_classes != expected:
        raise DataError(f"{root} has {data.num_classes} class folders, {DISPLAY_NAMES[name]} has {expected}: "
                        f"is it a copy of {DISPLAY_NAMES[name]}?")
    if name == "cifar10" and data.class_names != CIFAR10_CLASSES:
        raise DataError(f"the class folders of {root} are {data.class_names}, not CIFAR-10's {CIFAR10_CLASSES}")
    return data


def dataset_label(info: dict) -> str:
    """How reports name the data of a record: 'CIFAR-10 (JPEG copy)', 'CIFAR-10 (torchvision)', 'digits (scikit-learn)'."""
    name = info.get("dataset", "unknown")
    display = DISPLAY_NAMES.get(name)
    if "fingerprint" not in info:        # torchvision or scikit-learn
        return f"{display or name} ({'scikit-learn' if name == 'digits' else 'torchvision'})"
    formats = info.get("formats") or []
    kind = f"{formats[0]} copy" if len(formats) == 1 else "image-folder copy"
    return f"{display} ({kind})" if display else f"{name} (image folder)"


def same_data(a: dict, b: dict) -> bool:
    """Whether two data records name the same data and split (where it was read from aside)."""
    return data_identity(a) == data_identity(b)


def data_identity(info: dict) -> dict:
    """A data record without its location ('root'): what must match for a model to be reused."""
    return {k: v for k, v in info.items() if k != "root"} if isinstance(info, dict) else info


def load_dataset(name: str = "digits", root: str | os.PathLike | None = None, image_size: int | None = None,
                 download: bool = False, **digits_options) -> DataSplit:
    """Load a dataset by name: ``digits`` (default, offline), ``image_folder`` (``root`` is a folder of
    class folders or a .tar.gz of one: :mod:`idc_lite.data.image_folders`) or one of the torchvision datasets.
    For those, a ``root`` (or ``$IDC_LITE_DATA``) that is a .tar.gz or a folder of images is read as a
    copy of the named dataset in class folders (e.g. the CIFAR-10 JPEG copy)."""
    if name == "digits":
        return load_digits(16 if image_size is None else image_size, **digits_options)
    if name == "image_folder":
        from idc_lite.data.image_folders import load_image_folder

        if root is None:
            raise InputError("dataset 'image_folder' needs root: a folder of class folders or a .tar.gz of one")
        return load_image_folder(root, image_size=image_size)
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    if key in TORCHVISION_DATASETS:
        data_root = resolve_data_root(root)
        # torchvision's own files win: a data root may hold them beside other image folders
        if not (data_root / TORCHVISION_FOLDERS[key]).exists() and is_image_folder_source(data_root):
            return load_named_image_folder(key, data_root, image_size)
    return load_torchvision(name, root=root, image_size=image_size, download=download)


