"""Where data sets and caches live when the user names no folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["get_data_home"]


def get_data_home(data_home=None):
    """The folder for generated data sets and caches, as a ``Path`` (not created).

    ``data_home`` when given, else ``$METRICAUDIO_DATA``, else
    ``~/.cache/sklearn_metricaudio``; ``~`` is expanded. The command line, the examples and
    the benchmarks all read this one rule (as :func:`sklearn.datasets.get_data_home` does for
    scikit-learn).

    >>> get_data_home("/tmp/ma").as_posix()
    '/tmp/ma'
    """
    if data_home:
        return Path(data_home).expanduser()
    return Path(os.environ.get("METRICAUDIO_DATA", "~/.cache/sklearn_metricaudio")).expanduser()
