"""Stages runtime code for assets: a handler package with the envelope beside it.

No Docker here and none needed: handlers use the standard library, boto3 from
the Lambda runtime and the envelope package, so a copy of the folders is the
whole bundle. Staging folders are cached per process and keyed by content, so
the asset hash changes exactly when the code does.

A handler may also ship single modules of another top-level package (the release
Lambda ships ``ml/model_card.py``, not the training code beside it): each lands in
a folder named after its package, without the package's ``__init__.py``, so it
imports as a namespace package and runs nothing else of that package.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENVELOPE = ROOT / "envelope"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


def _digest(folders: tuple[Path, ...], modules: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(folder.parent)).encode())
                digest.update(path.read_bytes())
    # Without modules the digest is the folders' alone, as it always was.
    for module in modules:
        digest.update(_module_name(module).encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()[:16]


def _module_name(module: Path) -> str:
    """Where a single module lands in the bundle: ``<its package folder>/<file>``."""
    return f"{module.parent.name}/{module.name}"


@cache
def staged(*folders: Path, modules: tuple[Path, ...] = ()) -> Path:
    """A folder holding a copy of each of ``folders`` (by its own name), e.g. handler/ and envelope/,
    and each of ``modules`` (single .py files) as ``<its package folder>/<file>``, e.g. ml/model_card.py."""
    target = Path(tempfile.gettempdir()) / "dmc-assets" / _digest(folders, modules)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix="staging-", dir=target.parent))
        for folder in folders:
            shutil.copytree(folder, building / folder.name, ignore=_IGNORED)
        for module in modules:
            (building / module.parent.name).mkdir(exist_ok=True)
            shutil.copyfile(module, building / _module_name(module))
        try:
            building.rename(target)
        except OSError:  # another process staged the same content first
            shutil.rmtree(building)
    return target


def handler_bundle(handler_package: Path, modules: tuple[Path, ...] = ()) -> Path:
    """A Lambda asset folder: ``<handler_package>/``, ``envelope/`` and each of ``modules``
    as ``<its package folder>/<file>``."""
    return staged(handler_package, ENVELOPE, modules=modules)
