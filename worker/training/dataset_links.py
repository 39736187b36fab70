"""Datasets stored outside the data root: the one rule for links, shared by the loader and the dataset list.

The rule (README "Datasets", docs/operations.md): **a dataset stored elsewhere is linked at the
top of the data root, under the first part of its catalog folder** — `caltech101 -> /srv/caltech101`
(a folder holding `101_ObjectCategories/`), `cifar10_jpg -> /srv/cifar10_jpg`. Any other path
that leads out of the data root is refused: a link deeper down (`caltech101/101_ObjectCategories
-> …`), or any link under a user's own folder, so a `dataset.path` can never read the server's
files. The loader (`datasets.py`) refuses with `RULE` in its message, and the dataset list calls
a dataset "available" only when `usable_folder` finds a folder a run could read.
"""

from __future__ import annotations

from pathlib import Path

from app.schemas.catalog import DATASETS, DatasetSpec
from worker.training.errors import InvalidDataset

LINK_NAMES = tuple(sorted({folder.split("/")[0] for spec in DATASETS.values() for folder in spec.folders}))
RULE = (
    "a dataset stored outside the data root must be linked at the top of the data root under its catalog "
    f"name ({', '.join(LINK_NAMES)}), e.g. caltech101 -> the folder that holds 101_ObjectCategories/; "
    "links deeper inside the data root may not lead out of it"
)


def readable_roots(relative: str, data_root: Path) -> tuple[Path, ...]:
    """The real folders a dataset at `data_root / relative` may read files from.

    Raises:
        InvalidDataset: the folder leads out of the data root other than through a top-level
            catalog link; names the offending link (relative to the data root) and the rule.
    """
    folder, root = data_root / relative, data_root.resolve()
    if folder.resolve().is_relative_to(root):
        return (root,)
    top = data_root / Path(relative).parts[0]
    if top.name in LINK_NAMES and top.is_symlink() and folder.resolve().is_relative_to(top.resolve()):
        return (root, top.resolve())
    raise InvalidDataset(f"dataset folder {relative!r} leads out of the data root through {_first_link_out(relative, data_root)!r}: {RULE}")


def usable_folder(spec: DatasetSpec, data_root: Path) -> tuple[str | None, str | None]:
    """(the first of `spec`'s catalog folders under `data_root` that a run could read, or None;
    why a folder that is there cannot be read, or None)."""
    problem = None
    for candidate in spec.folders:
        if (data_root / candidate).is_dir():
            try:
                readable_roots(candidate, data_root)
            except InvalidDataset as refused:
                problem = problem or str(refused)
                continue
            return candidate, None
    return None, problem


def _first_link_out(relative: str, data_root: Path) -> str:
    """The shortest prefix of `relative` that resolves outside the data root (the link to move)."""
    root, parts = data_root.resolve(), Path(relative).parts
    for end in range(1, len(parts) + 1):
        if not (data_root / Path(*parts[:end])).resolve().is_relative_to(root):
            return "/".join(parts[:end])
    return relative
