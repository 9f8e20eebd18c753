"""Fashion-MNIST from its official mirror, for a machine that holds no copy (sources.locate finds none).
Only prepare runs this: a change here re-runs prepare, whose verified outputs are the same bytes."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DataError
from .sources import DEBIAN_DIR, FILES

MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DOWNLOAD_TIMEOUT_S = 60.0  # per connection and per read: a stalled mirror stops prepare instead of hanging it


def download(raw_dir: Path) -> Path:
    """Download the four files from the official mirror into raw_dir (each via a temporary name)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for f in FILES.values():
        target, url = raw_dir / f.name, MIRROR + f.name
        tmp = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            # a stall while connecting comes wrapped in a URLError, one while reading bare
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            why = f"no answer within {DOWNLOAD_TIMEOUT_S:g} s" if isinstance(reason, TimeoutError) else str(e)
            raise DataError(
                f"{target}: not found locally (looked in {raw_dir}, $FASHION_MNIST_DIR, {DEBIAN_DIR}) "
                f"and download from {url} failed ({why}); install the Debian package dataset-fashion-mnist"
            ) from None
        os.replace(tmp, target)
    return raw_dir
