#!/usr/bin/env python3
"""Writes helm/waitroom/README.md from the chart's values.yaml: every value with its default and the
comment above it. `python3 scripts/chart-readme.py` after changing values.yaml; the suite checks
that the README is current (tests/api/helm.rs)."""

import pathlib
import re
import sys

CHART = pathlib.Path(__file__).resolve().parent.parent / "helm" / "waitroom"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<value>.*)$")


def rows(lines):
    """(dotted key, default or None for a section, description) of every value, in file order."""
    path, comment = [], []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
            continue
        match = KEY.match(line)
        if not match or line.lstrip().startswith("-"):
            comment = [] if not stripped else comment
            continue
        depth = len(match["indent"]) // 2
        path = path[:depth] + [match["key"]]
        value = match["value"].split(" #")[0].strip()
        yield ".".join(path), (value or None), " ".join(comment)
        comment = []


def render():
    lines = (CHART / "values.yaml").read_text().splitlines()
    out = [
        "# The waitroom chart",
        "",
        "A self-hosted virtual waiting room: the API replicas (`waitroom serve`) behind a Service and an",
        "optional Ingress, and the drain worker (`waitroom drain`) forwarding admitted visitors to Kafka.",
        "It needs a Redis every replica shares; see the project README's Helm section for a walk",
        "through, and `helm test RELEASE` to check an installed release answers on both ports.",
        "",
        "Generated from `values.yaml` by `scripts/chart-readme.py`: edit the comments there.",
        "",
        "| value | default | what it is |",
        "|---|---|---|",
    ]
    for key, default, about in rows(lines):
        shown = "" if default is None else f"`{default}`"
        about = about.replace("|", "\\|")
        out.append(f"| `{key}` | {shown} | {about} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    readme = CHART / "README.md"
    text = render()
    if sys.argv[1:] == ["--check"]:
        current = readme.exists() and readme.read_text() == text
        sys.exit(0 if current else "helm/waitroom/README.md is not current: run scripts/chart-readme.py")
    readme.write_text(text)
