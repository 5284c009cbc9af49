# conftest.py — shared fixtures of the Python test suite.
# Run as: PYTHONPATH=bindings/python python3 -m pytest Tests/python
# The library is found by the bindings' normal finder (RTX_LIBRARY, the
# package directory, build/lib/librtx.so above the package or cwd, system).
import os
from pathlib import Path

import numpy  # noqa: F401  - NumPy (and its BLAS/OpenMP runtime) loads before librtx, like in user code
import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / ".models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def model_path() -> str:
    path = Path(os.environ.get("RTX_TEST_MODEL", DEFAULT_MODEL))
    if not path.is_file():
        pytest.skip(f"test model not found: {path} (set RTX_TEST_MODEL)")
    return str(path)


@pytest.fixture(scope="session")
def model(model_path):
    import rtx

    with rtx.Model(model_path) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
