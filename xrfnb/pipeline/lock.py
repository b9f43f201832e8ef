"""The locked environment: `requirements.lock`, the exact versions `make install` installs.

The lock is a pip constraints file written by `make lock` (`pip freeze` of a working environment, the
project itself left out). The run record names its sha256 and the installed packages whose versions
differ from it, so a reader can tell whether the numbers came from the locked environment.
"""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path

LOCK_FILE = "requirements.lock"


def canonical(name: str) -> str:
    """A distribution name as pip compares names (PEP 503): lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """The `name==version` lines of a lock, by canonical name; an unpinned line is an error naming it."""
    found: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise ValueError(f"{path}:{number}: expected name==version, got {line!r}")
        found[canonical(name.strip())] = version.strip()
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def status(path: Path) -> dict:
    """The lock's file name and sha256, and the installed packages whose versions differ from it.

    Locked packages that are not installed (another platform's, such as CUDA libraries on macOS) are
    not differences: a constraints file only pins what something requires.
    """
    path = Path(path)
    if not path.exists():
        return {"file": None, "sha256": None, "differs": []}
    differs = []
    for name, version in sorted(pins(path).items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if installed.split("+")[0] != version.split("+")[0]:
            differs.append(f"{name} {installed} (locked {version})")
    return {"file": path.name, "sha256": sha256(path), "differs": differs}
