"""The README's Python example runs as written."""

import pathlib
import re


def test_the_readme_python_example_runs(capsys):
    readme = pathlib.Path(__file__).resolve().parents[3] / "README.md"
    section = readme.read_text().split("## Python actors", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python section has no python block"
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme"})
    assert "failed at once: " in capsys.readouterr().out
