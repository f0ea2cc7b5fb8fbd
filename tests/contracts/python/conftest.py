"""Finds the generated modules: `trading` (from contracts.yaml), and `nested` and `names`
(from tests/contracts/schemas/).

`tests/contracts/run.sh` generates them and points `MYCELIUM_PY_OUT` at the directory. Run
alone, pytest generates them itself into a temporary directory with the codegen CLI, and
removes it when the run ends.
"""

import atexit
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
GOLDEN = pathlib.Path(os.environ.get("MYCELIUM_GOLDEN", REPO / "tests" / "contracts" / "golden"))


def _module_dir() -> pathlib.Path:
    out = os.environ.get("MYCELIUM_PY_OUT")
    if out:
        return pathlib.Path(out)
    out = pathlib.Path(tempfile.mkdtemp(prefix="mycelium-py-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    for schema in [REPO / "contracts.yaml", *sorted((REPO / "tests" / "contracts" / "schemas").glob("*.yaml"))]:
        subprocess.run(
            ["cargo", "run", "-q", "-p", "mycelium-codegen", "--", "python", str(schema), "-o", str(out)],
            cwd=REPO,
            check=True,
        )
    return out


sys.path.insert(0, str(_module_dir()))


@pytest.fixture(scope="session")
def golden_frames() -> bytes:
    return (GOLDEN / "frames.bin").read_bytes()


@pytest.fixture(scope="session")
def golden_expected() -> list[str]:
    return (GOLDEN / "expected.txt").read_text(encoding="utf-8").splitlines()
