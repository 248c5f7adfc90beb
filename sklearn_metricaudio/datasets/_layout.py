"""The on-disk layouts the loaders read, and how to tell them apart (one place for both)."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["US8K_CSV", "ESC50_CSV", "ESC10_CLASS_DIR", "detect_layout"]

#: UrbanSound8K's metadata, relative to its root.
US8K_CSV = Path("metadata") / "UrbanSound8K.csv"
#: ESC-50's metadata, relative to its root.
ESC50_CSV = Path("meta") / "esc50.csv"
#: class folder of the stand-alone ESC-10 layout: "001 - Dog bark"
ESC10_CLASS_DIR = re.compile(r"^(\d{3}) - (.+)$")


def detect_layout(root):
    """Which data set layout ``root`` holds: "urbansound8k", "esc50" or "esc10".

    Looked for in this order: ``metadata/UrbanSound8K.csv``, ``meta/esc50.csv``,
    class folders named like ``001 - Dog bark``.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a directory.
    ValueError
        None of the three layouts; the message names every marker looked for.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data set root '{root}': no such directory")
    if (root / US8K_CSV).is_file():
        return "urbansound8k"
    if (root / ESC50_CSV).is_file():
        return "esc50"
    if any(p.is_dir() and ESC10_CLASS_DIR.match(p.name) for p in root.iterdir()):
        return "esc10"
    raise ValueError(
        f"'{root}' is in no layout we know: looked for '{root / US8K_CSV}' (UrbanSound8K), "
        f"'{root / ESC50_CSV}' (ESC-50) and class folders named like '001 - Dog bark' (ESC-10)"
    )
