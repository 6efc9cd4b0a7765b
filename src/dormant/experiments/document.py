"""A tiny document model for reports, rendered twice: Markdown (images linked) and one
self-contained HTML file (images embedded, so it can be mailed or attached as it is)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any


class Doc:
    """A tiny document model rendered twice: Markdown (images linked) and one HTML file
    (images embedded, so it can be mailed or attached as it is)."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, Any]] = []

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("h", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def image(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", (Path(path), alt)))

    def markdown(self, base: Path) -> str:
        parts = []
        for kind, value in self.blocks:
            if kind == "h":
                parts.append("#" * value[0] + " " + value[1])
            elif kind == "p":
                parts.append(value)
            elif kind == "table":
                header, rows = value
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
                parts.append("\n".join(lines))
            else:
                parts.append(f"![{value[1]}]({value[0].relative_to(base)})")
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        body = []
        for kind, value in self.blocks:
            if kind == "h":
                body.append(f"<h{value[0]}>{html.escape(value[1])}</h{value[0]}>")
            elif kind == "p":
                text = html.escape(value)
                while "**" in text:  # the one Markdown emphasis the report uses
                    text = text.replace("**", "<b>", 1).replace("**", "</b>", 1)
                body.append(f"<p>{text.replace('*', '')}</p>")
            elif kind == "table":
                header, rows = value
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            else:
                data = base64.b64encode(value[0].read_bytes()).decode()
                body.append(f'<img alt="{html.escape(value[1])}" src="data:image/png;base64,{data}">')
        style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
                 "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
                 "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}")
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>dormant report</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
