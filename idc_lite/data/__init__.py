"""Datasets as tensors: the embedded digits, torchvision's MNIST and CIFAR-10, and folders of images.

- ``splits``: ``DataSplit`` (train and test tensors in [0, 1]) and the stratified split;
- ``datasets``: datasets by name (``load_dataset``), where their files are, and how a run names them;
- ``image_folders``: class folders of images or an archive of them, decoded once and cached.

It imports only the foundation (beside ``authors``, which it never imports).
"""
from idc_lite.data.datasets import dataset_label, load_dataset, load_digits, resolve_data_root
from idc_lite.data.splits import DataSplit

__all__ = ["DataSplit", "dataset_label", "load_dataset", "load_digits", "resolve_data_root"]
