"""Metadata CSV reading shared by the data-set loaders."""

from __future__ import annotations

import csv


def read_rows(csv_path, columns):
    """Rows of ``csv_path`` as dicts; a ValueError names any of ``columns`` it lacks.

    ``utf-8-sig`` reads plain UTF-8 and files saved with a byte-order mark alike.
    """
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"'{csv_path}' lacks column(s) {missing}; found {header}")
        return list(reader)
