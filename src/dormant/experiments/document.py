"""A tiny document model for reports, rendered twice: Markdown (images linked) and one
self-contained HTML file (images embedded, so it can be mailed or attached as it is).

Links to files and folders (a run's directory, its config.yaml, its TensorBoard logs)
are written relative to the report's folder in both. In Markdown a link to a folder is
an inline HTML anchor: documentation sites validate Markdown links against their pages
and a folder is not one, while GitHub and browsers follow the anchor.
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Link:
    text: str
    target: Path  # a file or folder (absolute, or relative to the working directory)


Cell = str | Link | list  # a list: parts (strings and links) in one cell
CODE = re.compile(r"`([^`]+)`")


def _href(target: Path, base: Path) -> str:
    rel = Path(os.path.relpath(Path(target).resolve(), Path(base).resolve())).as_posix()
    return rel + "/" if Path(target).is_dir() else rel


class Doc:
    """Headings, paragraphs, tables (cells may hold links), images."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Cell]], *, collapsed: str = "") -> None:
        """``collapsed``: in HTML the table is folded under this summary (Markdown shows it whole)."""
        self.blocks.append(("table", (header, rows, collapsed)))

    def image(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", (Path(path), alt)))

    # --- Markdown --------------------------------------------------------
    def _md_cell(self, cell: Cell, base: Path) -> str:
        if isinstance(cell, list):
            return " ".join(self._md_cell(part, base) for part in cell)
        if isinstance(cell, Link):
            href = _href(cell.target, base)
            if href.endswith("/"):
                return f'<a href="{html.escape(href)}">{html.escape(cell.text)}</a>'
            return f"[{cell.text}]({href})"
        return cell.replace("|", "\\|")

    def markdown(self, base: Path) -> str:
        parts = []
        for kind, value in self.blocks:
            if kind == "h":
                parts.append("#" * value[0] + " " + value[1])
            elif kind == "p":
                parts.append(value)
            elif kind == "table":
                header, rows, _ = value
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(self._md_cell(c, base) for c in row) + " |" for row in rows]
                parts.append("\n".join(lines))
            else:
                parts.append(f"![{value[1]}]({_href(value[0], base)})")
        return "\n\n".join(parts) + "\n"

    # --- HTML ------------------------------------------------------------
    def _html_cell(self, cell: Cell, base: Path) -> str:
        if isinstance(cell, list):
            return " ".join(self._html_cell(part, base) for part in cell)
        if isinstance(cell, Link):
            return f'<a href="{html.escape(_href(cell.target, base))}">{html.escape(cell.text)}</a>'
        return html.escape(cell)

    @staticmethod
    def _html_text(value: str) -> str:
        """A paragraph's Markdown as HTML (Python-Markdown: code spans, emphasis, links, lists).
        Text outside code spans is escaped first, so a name with ``<`` in it stays text."""
        import markdown

        parts = CODE.split(value)  # odd indices: the insides of `code spans`, left to the renderer
        source = "".join(f"`{part}`" if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts))
        return markdown.markdown(source, output_format="html")

    def html(self, base: Path) -> str:
        body = []
        for kind, value in self.blocks:
            if kind == "h":
                body.append(f"<h{value[0]}>{html.escape(value[1])}</h{value[0]}>")
            elif kind == "p":
                body.append(self._html_text(value))
            elif kind == "table":
                header, rows, collapsed = value
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                cells = "".join(
                    "<tr>" + "".join(f"<td>{self._html_cell(c, base)}</td>" for c in row) + "</tr>" for row in rows
                )
                table = f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
                body.append(
                    f"<details><summary>{html.escape(collapsed)}</summary>{table}</details>" if collapsed else table
                )
            else:
                data = base64.b64encode(value[0].read_bytes()).decode()
                body.append(f'<img alt="{html.escape(value[1])}" src="data:image/png;base64,{data}">')
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}"
            "code{background:#f3f3f3;padding:0 3px}summary{cursor:pointer;margin:1em 0}"
        )
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>dormant report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
        )
