# test_bad_gguf_python.py — every corrupted GGUF from Tests/data/make_bad_gguf.py
# and every hostile Hugging Face folder from Tests/data/make_bad_hf.py is refused
# through the Python API with the matching exception class and a message, and
# never crashes the process.
#
# Interface used: make_bad_gguf.make_all(out_dir) -> [(filename, expected_status_name,
# description)], expected_status_name like "RTX_ERR_FORMAT" (or "RTX_OK" for
# a file that must load). The files are loaded in a child process first, so a
# crash (signal) is reported per file instead of killing pytest.
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy  # noqa: F401  - NumPy before rtx, as in user code
import pytest

import rtx
from rtx.errors import EXCEPTIONS_BY_NAME

DATA = Path(__file__).resolve().parents[1] / "data"
sys.path.insert(0, str(DATA))
import make_bad_gguf  # noqa: E402
import make_bad_hf  # noqa: E402

_OUT_DIR = Path(tempfile.mkdtemp(prefix="rtx_bad_gguf_"))
CASES = [(Path(name).name, status, description) for name, status, description in make_bad_gguf.make_all(str(_OUT_DIR))]
CASES += [(f"hf/{name}", status, description) for name, status, description in make_bad_hf.make_all(str(_OUT_DIR / "hf"))]

_CHILD = textwrap.dedent("""
    import json, sys
    import rtx
    for path in sys.argv[1:]:
        print(json.dumps({"file": path, "started": True}), flush=True)
        try:
            with rtx.Model(path):
                result = {"file": path, "exception": None, "status_name": "RTX_OK", "message": ""}
        except rtx.RTXError as e:
            result = {"file": path, "exception": type(e).__name__, "status_name": e.status_name,
                      "message": e.message}
        except Exception as e:
            result = {"file": path, "exception": type(e).__name__, "status_name": None, "message": str(e)}
        print(json.dumps(result), flush=True)
""")


def _file_path(name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else _OUT_DIR / name


def _case_name(path: str) -> str:
    return str(Path(path).relative_to(_OUT_DIR))


@pytest.fixture(scope="module")
def outcomes():
    """filename -> outcome dict; a file that started but never finished crashed the child."""
    paths = [str(_file_path(name)) for name, _, _ in CASES]
    done = subprocess.run([sys.executable, "-c", _CHILD, *paths], capture_output=True, text=True, timeout=600)
    results, started = {}, None
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if record.get("started"):
            started = record["file"]
        else:
            results[_case_name(record["file"])] = record
            started = None
    if started is not None:
        results[_case_name(started)] = {"crashed": True, "returncode": done.returncode,
                                       "stderr": done.stderr[-2000:]}
    return results


def test_generator_produced_cases():
    assert CASES, "make_all returned no files"
    for name, status, _ in CASES:
        assert status in EXCEPTIONS_BY_NAME or status == "RTX_OK", f"{name}: unknown status {status}"
        assert _file_path(name).exists(), name


@pytest.mark.parametrize("name,expected,description", CASES, ids=[c[0] for c in CASES])
def test_bad_gguf_is_refused_with_the_matching_exception(outcomes, name, expected, description):
    outcome = outcomes.get(name)
    assert outcome is not None, f"{name} ({description}): never reached - an earlier file crashed the process"
    assert not outcome.get("crashed"), (f"{name} ({description}) crashed the process "
                                        f"(rc {outcome['returncode']}): {outcome['stderr']}")
    if expected == "RTX_OK":
        assert outcome["exception"] is None, f"{name} ({description}): {outcome}"
        return
    cls = EXCEPTIONS_BY_NAME[expected]
    assert outcome["exception"] == cls.__name__, (
        f"{name} ({description}): expected {cls.__name__} ({expected}), got "
        f"{outcome['exception']} ({outcome['status_name']}): {outcome['message']!r}")
    message = outcome["message"]
    assert message and message != expected, f"{name} ({description}): no message"


_FIRST_BAD = [case for case in CASES if case[1] != "RTX_OK"][:3]


@pytest.mark.parametrize("name,expected,description", _FIRST_BAD, ids=[c[0] for c in _FIRST_BAD])
def test_bad_gguf_in_process_raises_subclass_of_rtxerror(outcomes, name, expected, description):
    # The same refusal in this process, through the exception hierarchy itself
    # (only for files the child process survived).
    outcome = outcomes.get(name)
    if expected == "RTX_OK" or outcome is None or outcome.get("crashed"):
        pytest.skip("a loadable file, or one that crashed the child")
    with pytest.raises(EXCEPTIONS_BY_NAME[expected]) as err:
        rtx.Model(_file_path(name))
    assert isinstance(err.value, rtx.RTXError) and err.value.message
