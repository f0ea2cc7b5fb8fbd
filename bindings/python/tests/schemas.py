"""The tests' own schemas: `desk.yaml` (next to this file) generated into Python modules at
test time with the codegen binary, as a user runs it, and imported as a user imports them."""

import importlib.util
import pathlib
import subprocess
import sys
from types import ModuleType

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DESK_YAML = HERE / "desk.yaml"


def codegen(*args: str) -> str:
    """Runs `mycelium-codegen ARGS` (the workspace's binary, through cargo) and returns its
    output; fails the test with its error text."""
    done = subprocess.run(
        ["cargo", "run", "-q", "-p", "mycelium-codegen", "--", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def generate(schema: pathlib.Path, out: pathlib.Path, module_name: str) -> ModuleType:
    """Generates the Python module of `schema` into `out` and imports it as `module_name`
    (registered in `sys.modules`, as an import registers it)."""
    out.mkdir(parents=True, exist_ok=True)
    codegen("python", str(schema), "-o", str(out))
    package = schema.read_text().split("package:", 1)[1].split()[0]
    spec = importlib.util.spec_from_file_location(module_name, out / f"{package}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
