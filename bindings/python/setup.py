# setup.py — bundle librtx.so into the wheel so the installed package needs no
# RTX checkout. Metadata lives in pyproject.toml; this file only adds the build step.
#
# The wheel is built from a checkout (`pip install ./bindings/python`, `pip wheel`,
# `python -m build --wheel`): build_py runs `make lib` at the repository root when
# build/lib/librtx.so is missing or older than the sources, then copies the library
# next to the modules, where rtx/_lib.py looks first. The library itself still
# needs the system's libomp.so.5, libopenblas and liblapacke at run time.
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 ships bdist_wheel; older ones take it from `wheel`.
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

PACKAGE = "rtx"
LIB_NAME = "librtx.so"  # the name rtx/_lib.py looks for inside the package
REPO_ROOT = Path(__file__).resolve().parents[2]
BUILT_LIB = REPO_ROOT / "build" / "lib" / LIB_NAME
# Everything `make lib` compiles or links from.
SOURCE_ROOTS = ("Package.swift", "Sources", "include", "scripts/exports.map")


def newest_source_mtime(root: Path) -> float:
    newest = 0.0
    for name in SOURCE_ROOTS:
        top = root / name
        paths = [top] if top.is_file() else (Path(d) / f for d, _, files in os.walk(top) for f in files)
        for path in paths:
            newest = max(newest, path.stat().st_mtime)
    return newest


def is_stale(library: Path, root: Path) -> bool:
    return not library.is_file() or library.stat().st_mtime < newest_source_mtime(root)


def built_library() -> Path:
    """build/lib/librtx.so of the checkout, (re)built with `make lib` when stale."""
    if not (REPO_ROOT / "Package.swift").is_file():
        raise RuntimeError(
            f"rtx: {REPO_ROOT} is not an RTX checkout, so librtx.so cannot be built; "
            "build the wheel from the repository (pip wheel ./bindings/python), not from an sdist"
        )
    if is_stale(BUILT_LIB, REPO_ROOT):
        print(f"rtx: building librtx.so with `make lib` in {REPO_ROOT}", flush=True)
        subprocess.run(["make", "-C", str(REPO_ROOT), "lib"], check=True)
    # build/lib/librtx.so -> librtx.so.0 -> librtx.so.<version>: a wheel cannot hold
    # symlinks, so the real file is copied.
    return BUILT_LIB.resolve(strict=True)


class BuildPyWithLibrary(build_py):
    """build_py that also places librtx.so inside the built package."""

    def run(self):
        # build_py copies only newer files, so a module deleted from the sources
        # would linger in build/ and ship; start from an empty package folder.
        shutil.rmtree(Path(self.build_lib) / PACKAGE, ignore_errors=True)
        super().run()
        target = Path(self.build_lib) / PACKAGE / LIB_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built_library(), target)
        target.chmod(0o755)


class NativeDistribution(Distribution):
    """Counts as non-pure, so the package goes to platlib and the wheel gets a
    platform tag: it holds a native library even without an extension module."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """py3-none-<platform>: ctypes loads librtx.so, so any Python 3 ABI works."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    distclass=NativeDistribution,
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel},
)
