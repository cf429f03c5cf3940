"""Repository-wide rules that a reviewer would otherwise have to remember."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY_DIRS = ["webapp", "inference", "training", "scripts", "bench"]


def python_files() -> list[Path]:
    return [p for d in PY_DIRS for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts]


def test_every_torch_load_is_weights_only() -> None:
    offenders = []
    for path in python_files():
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start(): text.find(")", m.start()) + 200]
            if "weights_only=True" not in call.split("\n\n")[0]:
                line = text[: m.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert not offenders, f"torch.load without weights_only=True: {offenders}"


def test_no_view_queries_models_directly() -> None:
    """Views read through selectors (membership-scoped), never `Model.objects` (design.md §2)."""
    offenders = []
    for path in (ROOT / "webapp").rglob("*.py"):
        if path.name in {"views.py", "api.py", "pages.py"} or path.name.endswith("_api.py"):
            for i, line in enumerate(path.read_text().splitlines(), start=1):
                # `.objects.none()` (an empty queryset for schema generation) reads nothing.
                if re.search(r"\b[A-Z]\w+\.objects\.(?!none\(\))", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "views must use selectors:\n" + "\n".join(offenders)
