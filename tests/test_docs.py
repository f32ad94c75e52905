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


# ----------------------------------------------------------------------------- self-contained docs
ROOT = pathlib.Path(__file__).resolve().parent.parent
THEORY = ROOT / "docs" / "theory.md"
TEXT_SUFFIXES = {".py", ".md", ".rst", ".txt", ".cfg", ".toml", ".yml", ".yaml"}
PROJECT_FILES = sorted(
    [ROOT / "README.md"]
    + [p for d in ("sdesim", "docs", "validation", "bench", "tests") for p in (ROOT / d).rglob("*")
       if p.suffix in TEXT_SUFFIXES and not {"__pycache__", "results"} & set(p.parts)])
# the patterns are assembled from pieces so that this file does not match them itself
PRIVATE_NOTES = re.compile(r"\b(?:" + "THEORY" + "|" + "DESIGN" + r")\.md")
OUTSIDE_PATHS = re.compile("|".join([r"\.\.[/\\]" + "shared", "shared" + "/papers",
                                     r"\b" + "pap" + "ers/", r"(?<![\w.])/(?:work|home|tmp|mnt)/"]))
UPWARD = re.compile(r"(?<![\w./])((?:\.\./)+)[\w-]")
SECTION_ID = r"(?:0|[A-C])(?:\.\d+)*"       # this page's ids: §0.x, §A.x, §B.x, §C.x
CITATION = re.compile(r"docs/theory\.md")
SECTION_REF = re.compile(rf"§({SECTION_ID})(?:\([a-z]\))?(?:\s?[-–]\s?§?({SECTION_ID}))?")


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def _theory_sections():
    return set(re.findall(rf"^#{{1,6}}\s+§({SECTION_ID})\b", THEORY.read_text(), re.M))


def _cited_sections(text):
    """Section ids cited after each mention of the theory page, up to the end of the paragraph
    (or the next mention)."""
    for m in CITATION.finditer(text):
        tail = re.split(r"\n\s*\n|docs/theory\.md", text[m.end():m.end() + 300], maxsplit=1)[0]
        for ref in SECTION_REF.finditer(tail):
            yield from (s.rstrip(".") for s in ref.groups() if s)


def test_project_files_cite_nothing_outside_the_repository():
    offences = []
    for p in PROJECT_FILES:
        text = p.read_text(errors="replace")
        for rx in (PRIVATE_NOTES, OUTSIDE_PATHS):
            offences += [f"{_rel(p)}: {m.group(0)!r}" for m in rx.finditer(text)]
        for m in UPWARD.finditer(text):
            if ROOT not in (p.parent / m.group(1)).resolve().parents:
                offences.append(f"{_rel(p)}: {m.group(0)!r} leaves the repository")
    assert not offences, "citations of files outside the repository:\n" + "\n".join(offences)


def test_theory_citations_name_existing_sections():
    sections = _theory_sections()
    assert {"0.1", "A.2", "B.2.1", "C.6"} <= sections, "docs/theory.md lost its numbered headings"
    missing = sorted({f"{_rel(p)}: §{s}" for p in PROJECT_FILES
                      for s in _cited_sections(p.read_text(errors="replace")) if s not in sections})
    own = {f"docs/theory.md: §{s}" for s in re.findall(rf"§({SECTION_ID})\b", THEORY.read_text())
           if s not in sections}
    assert not missing and not own, "cited sections missing from docs/theory.md:\n" + "\n".join(
        missing + sorted(own))


def test_citation_parser_reads_ranges_lists_and_suffixes():
    page = "docs/theory" + ".md"     # kept apart so that the scan of this file finds no citation
    text = (f"{page} §0.5 and\n§C.6. See {page} §B.1-B.4, §C.3(c) (x), §0.2–0.4.\n\n"
            "§C.9 is in another paragraph")
    assert list(_cited_sections(text)) == ["0.5", "C.6", "B.1", "B.4", "C.3", "0.2", "0.4"]
