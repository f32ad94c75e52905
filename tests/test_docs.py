"""Every ```python block of every page in docs/ runs, in order, in one namespace per page."""
import pathlib
import re

import matplotlib.pyplot as plt
import pytest

DOCS = sorted((pathlib.Path(__file__).resolve().parent.parent / "docs").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_doc_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(page.read_text())
    assert blocks, f"{page.name} has no python code blocks"
    namespace = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        finally:
            plt.close("all")
