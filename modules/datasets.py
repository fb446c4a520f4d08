# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Datasets: an image folder as a benchmark's data
#
# A support notebook (`tinybench.datasets`), used by `tinybench run --dataset DIR`. The usual way to
# hand a model benchmarking tool its test images is a folder with one subfolder per class
# (`data/test/cat/1.png`, `data/test/dog/7.jpg`, ...), the layout of torchvision's `ImageFolder`.
# `load_image_folder` reads it with Pillow into one float32 array of shape (samples, channels,
# height, width) and the labels from the folder names, so that every model sees the same decoded,
# resized and normalised samples, decoded once before any timing starts.

# %%
#| default_exp datasets

# %%
#| export
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tinybench.checks import check_number

# %% [markdown]
# Normalisation: `"imagenet"` subtracts ImageNet's per-channel mean and divides by its standard
# deviation (what torchvision's pretrained models expect), `"unit"` scales pixels to [0, 1], and
# `"none"` keeps 0–255.

# %%
#| export
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NORMALIZATIONS = {"imagenet": (np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])),
                  "unit": (np.zeros(3), np.ones(3)), "none": None}


@dataclass(repr=False)
class ImageFolder:
    """Images of a class-per-subfolder folder: `X` float32 (samples, 3, height, width), `y` int64 labels (the index of
    the class in `classes`, the sorted subfolder names), and `files`, the image each sample came from."""
    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    files: list[Path]
    normalize: str

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        counts = ", ".join(f"{c} {int((self.y == k).sum())}" for k, c in enumerate(self.classes))
        return (f"ImageFolder({len(self)} images of {self.X.shape[2]}x{self.X.shape[3]}, {len(self.classes)} classes: "
                f"{counts}; normalize={self.normalize!r})")

# %% [markdown]
# The loader checks what it can before decoding anything (a folder, class subfolders, images in
# them), then decodes each image to RGB. Images of different sizes cannot be stacked into one
# batch: without `image_size` that is an error that names two files of different sizes; with it
# every image is resized (bilinear) to `image_size` (an int for a square, or (height, width)).

# %%
#| export
def image_files(folder: str | Path) -> tuple[list[str], list[tuple[Path, int]]]:
    "(classes, [(file, label)]) of a class-per-subfolder image folder; ValueError naming what is missing."
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"--dataset {root}: no such folder (expected one subfolder of images per class)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"--dataset {root} has no class subfolders: put the images of each class in their own "
                         f"subfolder (e.g. {root}/cat/1.png)")
    files = [(f, k) for k, c in enumerate(classes) for f in sorted((root / c).iterdir())
             if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ValueError(f"--dataset {root}: its subfolders {classes[:5]} hold no PNG or JPEG images")
    return classes, files


def _size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        n = int(check_number(image_size, "image_size", integer=True, positive=True))
        return n, n
    if isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        return tuple(int(check_number(v, "image_size", integer=True, positive=True)) for v in image_size)
    raise TypeError(f"image_size must be an int or (height, width), got {image_size!r}")


GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # Pillow modes with one colour channel


def load_image_folder(folder: str | Path, image_size: int | Sequence[int] | None = None,
                      normalize: str = "imagenet", channels: int | str = "auto") -> ImageFolder:
    """Decode every PNG/JPEG of a class-per-subfolder `folder` into an `ImageFolder` (float32, NCHW).
    `image_size`: resize to it (int: square; (height, width)); without it all images must have one size.
    `channels`: 3 (RGB), 1 (grayscale), or "auto": 1 when every image is grayscale, else 3.
    `normalize`: "imagenet" (its RGB means and stds; their averages for one channel), "unit" ([0, 1]) or "none"
    (0-255). ValueError naming the file that cannot be read."""
    from PIL import Image, UnidentifiedImageError
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {sorted(NORMALIZATIONS)}, got {normalize!r}")
    if channels not in ("auto", 1, 3):
        raise ValueError(f"channels must be 1, 3 or 'auto' (1 when every image is grayscale), got {channels!r}")
    size = _size(image_size)
    classes, files = image_files(folder)
    if channels == "auto":
        try:
            gray = all(Image.open(f).mode in GRAY_MODES for f, _ in files)
        except (UnidentifiedImageError, OSError):
            gray = False  # the decoding loop below names the unreadable file
        channels = 1 if gray else 3
    arrays, first = [], None
    for f, _ in files:
        try:
            with Image.open(f) as im:
                im = im.convert("L" if channels == 1 else "RGB")
                if size is not None:
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                a = np.asarray(im, dtype=np.float32)
                a = a[:, :, None] if a.ndim == 2 else a
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read image {f}: {e}") from e
        if first is None:
            first = (f, a.shape)
        elif a.shape != first[1]:
            raise ValueError(f"images differ in size: {first[0]} is {first[1][1]}x{first[1][0]}, {f} is "
                             f"{a.shape[1]}x{a.shape[0]} (width x height): pass --image-size to resize them all")
        arrays.append(a)
    X = np.stack(arrays).transpose(0, 3, 1, 2)  # (samples, channels, height, width)
    norm = NORMALIZATIONS[normalize]
    if norm is not None:
        mean, std = norm if channels == 3 else (norm[0].mean(keepdims=True), norm[1].mean(keepdims=True))
        X = (X / 255.0 - mean[None, :, None, None]) / std[None, :, None, None]
    return ImageFolder(np.ascontiguousarray(X, dtype=np.float32), np.array([k for _, k in files], dtype=np.int64),
                       classes, [f for f, _ in files], normalize)

# %% [markdown]
# A check on generated images (nothing is downloaded): two classes, pixels of known values.

# %%
import tempfile

from PIL import Image

_root = Path(tempfile.mkdtemp())
for _k, _c in enumerate(["cat", "dog"]):
    (_root / _c).mkdir()
    for _i in range(3):
        Image.new("RGB", (5, 4), (255 * _k, 0, 51)).save(_root / _c / f"{_i}.png")
_data = load_image_folder(_root, normalize="unit")
assert _data.X.shape == (6, 3, 4, 5) and _data.classes == ["cat", "dog"] and _data.y.tolist() == [0, 0, 0, 1, 1, 1]
assert np.allclose(_data.X[3, :, 0, 0], [1.0, 0.0, 0.2])
_data
