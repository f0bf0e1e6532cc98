"""Your own images as a dataset: a folder of class folders (torchvision's ``ImageFolder`` layout), or
a ``.tar.gz`` of one, decoded once into a cache and then loaded as a :class:`~idc_lite.data.splits.DataSplit`.

Layouts (a single top-level folder inside an archive is skipped):

* ``train/<class>/<image>`` and ``test/<class>/<image>``: the two splits as given;
* ``<class>/<image>``: one set, split into train and test by a seeded stratified split.

Classes are the folder names in sorted order (as ``ImageFolder``).  Archives are read member by member
in memory, never extracted, so no member can write outside the cache.  The cache (``cache_dir``, else
``$IDC_LITE_CACHE``, else ``~/.cache/idc_lite``) holds uint8 tensors keyed by the source's fingerprint
(an archive's SHA-256; a folder's file names, sizes and modification times), so a changed source is
decoded again and an unchanged one in seconds.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from idc_lite.data.splits import DataSplit, resize_images, stratified_split
from idc_lite.foundation.errors import CheckpointError, DataError, DataNotFoundError
from idc_lite.foundation.files import atomic_save, file_sha256, read_torch_file
from idc_lite.foundation.validation import check_fraction, check_int

CACHE_ENV = "IDC_LITE_CACHE"


CACHE_FORMAT = "idc_lite-image-folder-v2"   # v2: records the image formats


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


SPLITS = ("train", "test")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where decoded datasets are kept: ``cache_dir``, else ``$IDC_LITE_CACHE``, else ``~/.cache/idc_lite``."""
    return Path(cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "idc_lite").expanduser()


def _is_archive(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".tar.gz") or path.name.endswith(".tgz"))


def _image_entries(source: Path) -> list[tuple[tuple[str, ...], str, bytes | Path]]:
    """(path parts below the source, a name for messages, the bytes or the file) for every image.
    An archive is read in one pass, its images kept as bytes (no member lookup by name, which
    tarfile does by a linear search: quadratic for 60,000 members)."""
    def wanted(parts: tuple[str, ...]) -> bool:
        return PurePosixPath(*parts).suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in parts)

    entries = []
    if _is_archive(source):
        try:
            with tarfile.open(source, "r:gz") as archive:
                for member in archive:
                    parts = PurePosixPath(member.name).parts
                    if member.isfile() and wanted(parts):
                        entries.append((parts, f"{source}:{member.name}", archive.extractfile(member).read()))
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"cannot read the archive {source}: {err} (is it a complete .tar.gz?)") from None
        return entries
    for path in sorted(source.rglob("*")):
        parts = path.relative_to(source).parts
        if path.is_file() and wanted(parts):
            entries.append((parts, str(path), path))
    return entries


def _layout(entries: list[tuple[tuple[str, ...], str, bytes | Path]], source: Path) -> list[tuple[str, str, tuple]]:
    """(split or '', class, (name, bytes or file)) per image, after dropping a top-level folder common to all."""
    if not entries:
        raise DataError(f"{source} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}): expected "
                        "<class>/<image> or train|test/<class>/<image>")
    parts_list = [parts for parts, _, _ in entries]
    refs = [(where, raw) for _, where, raw in entries]
    while all(len(p) > 2 for p in parts_list) and len({p[0] for p in parts_list}) == 1 \
            and parts_list[0][0] not in SPLITS:
        parts_list = [p[1:] for p in parts_list]
    depths = {len(p) for p in parts_list}
    if depths == {3} and {p[0] for p in parts_list} <= set(SPLITS):
        items = [(p[0], p[1], ref) for p, ref in zip(parts_list, refs)]
        if {s for s, _, _ in items} != set(SPLITS):
            raise DataError(f"{source} has only a {items[0][0]}/ folder: give both train/ and test/, or put the class "
                            "folders at the top to have the kit split them")
        return items
    if depths == {2}:
        return [("", p[0], ref) for p, ref in zip(parts_list, refs)]
    raise DataError(f"{source} mixes folder depths {sorted(depths)}: expected <class>/<image> or "
                    "train|test/<class>/<image> for every image")


def _decode(source: Path, items: list[tuple[str, str, object]]) -> dict:
    """Decode every image to uint8 (C, H, W); one channel if every image is greyscale, else RGB."""
    from PIL import Image, UnidentifiedImageError

    images, formats = [], set()
    for _, _, (where, raw) in items:
        try:
            with Image.open(io.BytesIO(raw) if isinstance(raw, bytes) else raw) as img:
                img.load()
                formats.add(img.format or "unknown")
                images.append(img.copy())
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DataError(f"cannot decode the image {where}: {err}") from None
    grey = all(img.mode in ("1", "L", "I", "I;16", "F") for img in images)
    sizes = {img.size for img in images}
    if len(sizes) > 1:
        raise DataError(f"the images in {source} have {len(sizes)} different sizes (e.g. {sorted(sizes)[:3]}): "
                        "bring them to one size first (the kit resizes square images of one size only)")
    width, height = sizes.pop()
    if width != height:
        raise DataError(f"the images in {source} are {width}x{height}: the U-Net needs square images")
    arrays = [np.asarray(img.convert("L" if grey else "RGB"), dtype=np.uint8) for img in images]
    x = torch.from_numpy(np.stack(arrays))
    x = x[:, None] if grey else x.permute(0, 3, 1, 2)
    classes = sorted({cls for _, cls, _ in items})
    index = {cls: i for i, cls in enumerate(classes)}
    return {"x": x.contiguous(), "labels": torch.tensor([index[c] for _, c, _ in items], dtype=torch.long),
            "splits": [s for s, _, _ in items], "class_names": classes, "formats": sorted(formats)}


def _fingerprint(source: Path) -> str:
    if _is_archive(source):
        return "sha256:" + file_sha256(source)
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(source).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "files:" + digest.hexdigest()


def decoded_image_folder(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> dict:
    """The decoded images of ``source`` (from the cache when the source is unchanged): a dict with
    ``x`` (N, C, H, W) uint8, ``labels`` (N,), ``splits`` ('train', 'test' or '' per image),
    ``class_names``, ``fingerprint`` and ``cache`` (the file)."""
    source = Path(source).expanduser()
    if not source.exists():
        raise DataNotFoundError(f"no image folder or archive at {source}: give a folder of class folders "
                                "(<class>/<image> or train|test/<class>/<image>) or a .tar.gz of one")
    if not (source.is_dir() or _is_archive(source)):
        raise DataError(f"{source} is neither a folder nor a .tar.gz archive")
    fingerprint = _fingerprint(source)
    stem = source.name.removesuffix(".tar.gz").removesuffix(".tgz")
    cache = cache_root(cache_dir) / f"{stem}-{fingerprint.split(':')[1][:16]}.pt"
    if cache.exists():
        try:
            stored = read_torch_file(cache)
            if isinstance(stored, dict) and stored.get("format") == CACHE_FORMAT and stored.get("fingerprint") == fingerprint:
                return {**stored, "cache": cache}
        except CheckpointError:
            pass            # a corrupt cache file is decoded again and replaced, never trusted
    decoded = _decode(source, _layout(_image_entries(source), source))
    stored = {"format": CACHE_FORMAT, "fingerprint": fingerprint, **decoded}
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(stored, cache)
    return {**stored, "cache": cache}


def load_image_folder(source: str | os.PathLike, image_size: int | None = None, test_fraction: float = 0.2,
                      seed: int = 0, cache_dir: str | os.PathLike | None = None, name: str | None = None) -> DataSplit:
    """A folder of class folders, or a .tar.gz of one, as a DataSplit: images (N, C, H, W) float32 in
    [0, 1], resized to ``image_size`` if given.  Without train/ and test/ folders, a stratified split
    with ``test_fraction`` and ``seed``.  ``name``: the dataset's name in the record (default: the
    source's file name); the record identifies the data by its fingerprint, not by its path."""
    check_fraction(test_fraction, "test_fraction")
    check_int(seed, "seed", 0)
    if image_size is not None:
        check_int(image_size, "image_size", 1)
    data = decoded_image_folder(source, cache_dir)
    x, labels, splits = data["x"], data["labels"], np.array(data["splits"])
    if (splits == "").all():
        train_idx, test_idx = stratified_split(labels.numpy(), test_fraction, seed)
        split_note = f"stratified, test fraction {test_fraction}, seed {seed}, shuffled"
    else:
        train_idx, test_idx = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "test")
        split_note = f"the source's train/ and test/ folders, shuffled with seed {seed}"
    # Sources list images class by class; shuffle each split (seeded) so that "the first N test images",
    # which the notebooks evaluate, are a sample of every class rather than N airplanes.
    rng = np.random.default_rng(seed)
    train_idx, test_idx = torch.as_tensor(rng.permutation(train_idx)), torch.as_tensor(rng.permutation(test_idx))

    def as_float(idx: torch.Tensor) -> torch.Tensor:
        images = x[idx].float() / 255.0
        return resize_images(images, image_size) if image_size is not None else images

    source = Path(source).expanduser()
    # "root" says where to read the data again (notebooks 03 to 05); records are compared without it
    # (data.same_data), so moving the data keeps a model's record valid: the fingerprint names the data.
    info = {"dataset": name or source.name, "source": "image folder archive" if _is_archive(source) else "image folder",
            "root": str(source.resolve()), "fingerprint": data["fingerprint"], "formats": list(data["formats"]),
            "image_size": int(image_size or x.shape[-1]), "split": split_note, "test_fraction": test_fraction,
            "split_seed": seed, "n_train": len(train_idx), "n_test": len(test_idx)}
    return DataSplit(as_float(train_idx), labels[train_idx], as_float(test_idx), labels[test_idx],
                     list(data["class_names"]), info)


