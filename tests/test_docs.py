"""The documentation stays true and reachable: the configuration reference matches the
schema, every relative link and anchor resolves, the README stays a short front door, and
every page stands on its own (no reference to design notes outside the repository)."""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
GENERATOR = ROOT / "scripts" / "gen_config_reference.py"
README_MAX_LINES = 150

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_config_reference", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_code(text: str) -> str:
    """Markdown with fenced blocks and code spans blanked (links there are not links)."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return CODE_SPAN.sub("", text)


def links(path: Path) -> list[str]:
    text = without_code(path.read_text())
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def heading_text(raw: str) -> str:
    """A heading's text as rendered: links become their text, code and emphasis marks go."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    return text.replace("`", "").replace("*", "")


def slug_mkdocs(text: str) -> str:
    """Python-Markdown's toc slug (what mkdocs checks anchors against)."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def slug_github(text: str) -> str:
    """GitHub's heading anchor (README.md is read there)."""
    value = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return value.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for _, raw in HEADING.findall(FENCE.sub("", path.read_text())):
        text = heading_text(raw)
        found |= {slug_mkdocs(text), slug_github(text)}
    return found


def test_configuration_reference_matches_the_schema():
    generator = load_generator()
    committed = (DOCS / "configuration.md").read_text() if (DOCS / "configuration.md").exists() else ""
    assert committed == generator.render(), (
        "docs/configuration.md is out of date with dormant.config (an option, default, type, comment, "
        f"preset or shorthand changed); regenerate it with: {generator.COMMAND}"
    )


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in markdown_files():
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: …
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            where = f"{page.relative_to(ROOT)} → {target}"
            if not resolved.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{where} (no heading with that anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_checker_sees_links_and_anchors(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# A `code` title: σ(β)\n\n[a](other.md#x) ![b](img.png) `[c](skip.md)`\n\n"
        "```\n[d](skip.md)\n```\n[e]: ref.md\n"
    )
    assert links(page) == ["other.md#x", "img.png", "ref.md"]
    assert "a-code-title" in anchors(page)


def test_readme_is_a_short_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; keep it ≤ {README_MAX_LINES} and move details into docs/"
    )


# The private design notes kept outside the repository, by file stem: users do not have
# them, so no page may send a reader there (cite the paper or the reference code instead).
PRIVATE_NOTES = ("SPEC", "DESIGN")


def test_docs_stand_alone_without_private_design_notes():
    """Run artefacts of the evidence runs (CSV, YAML, JSON, logs, images) are data, not
    documentation, and are not read."""
    pattern = re.compile(r"\b(" + "|".join(PRIVATE_NOTES) + r")\.md\b")
    checked = [
        README,
        ROOT / "mkdocs.yml",
        *(p for p in sorted(DOCS.rglob("*")) if p.suffix in {".md", ".txt", ".html"}),
    ]
    offenders = [
        str(p.relative_to(ROOT)) for p in checked if p.is_file() and pattern.search(p.read_text(errors="replace"))
    ]
    assert not offenders, f"these refer readers to private design notes ({', '.join(PRIVATE_NOTES)}): {offenders}"


def test_every_docs_page_is_in_the_site_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed: set[str] = set()

    def walk(node):
        if isinstance(node, str):
            listed.add(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config["nav"])
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages <= listed, f"docs pages missing from mkdocs.yml's nav: {sorted(pages - listed)}"
    assert all((DOCS / page).exists() for page in listed), "mkdocs.yml's nav lists a page that does not exist"
