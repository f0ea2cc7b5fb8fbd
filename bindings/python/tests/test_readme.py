"""The README's Python section runs as written: its schema file is generated with the codegen
binary, as the section's command does, and its Python blocks run in order."""

import pathlib
import re
import sys

from schemas import generate


def test_the_readme_python_examples_run(capsys, tmp_path):
    readme = pathlib.Path(__file__).resolve().parents[3] / "README.md"
    section = readme.read_text().split("## Python actors", 1)[1].split("\n## ", 1)[0]
    schemas = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    assert len(schemas) == 1, "the README's Python section has one schema file"
    assert "mycelium-codegen python desk.yaml -o ." in section
    (tmp_path / "desk.yaml").write_text(schemas[0])
    saved = sys.modules.get("desk")
    generate(tmp_path / "desk.yaml", tmp_path, "desk")
    try:
        blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
        assert len(blocks) == 2, "the README's Python section has two python blocks"
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    finally:
        if saved is None:
            sys.modules.pop("desk", None)
        else:
            sys.modules["desk"] = saved
    out = capsys.readouterr().out
    assert "failed at once: " in out and "shut down" in out
