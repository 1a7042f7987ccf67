"""Collection rules for the whole test run (tests/ and notebooks/): hidden files are never tests.

A hard kill during an atomic write leaves its temporary file (``.tmp-02_low_capacity_convnet.x.ipynb``,
or ``.02_*.ipynb`` from older versions) beside the notebook; nbval must not collect it as a notebook.
"""

from pathlib import Path


def pytest_ignore_collect(collection_path: Path, config):
    if collection_path.name.startswith(".") and collection_path.is_file():
        return True
    return None
