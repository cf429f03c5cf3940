"""Label schemas of projects: classes and per-finding attributes; LIDC's nine as a preset."""

from __future__ import annotations

from typing import Any

LIDC_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "subtlety", "type": "int", "min": 1, "max": 5},
    {"name": "internal_structure", "type": "int", "min": 1, "max": 4},
    {"name": "calcification", "type": "int", "min": 1, "max": 6},
    {"name": "sphericity", "type": "int", "min": 1, "max": 5},
    {"name": "margin", "type": "int", "min": 1, "max": 5},
    {"name": "lobulation", "type": "int", "min": 1, "max": 5},
    {"name": "spiculation", "type": "int", "min": 1, "max": 5},
    {"name": "texture", "type": "int", "min": 1, "max": 5},
    {"name": "malignancy", "type": "int", "min": 1, "max": 5},
]

LUNG_NODULE_SCHEMA: dict[str, Any] = {
    "classes": [
        {"name": "nodule", "color": "#e6194b"},
        {"name": "mass", "color": "#3cb44b"},
        {"name": "other", "color": "#4363d8"},
    ],
    "attributes": LIDC_ATTRIBUTES,
}

BRAIN_LESION_SCHEMA: dict[str, Any] = {
    "classes": [{"name": "lesion", "color": "#f58231"}],
    "attributes": [{"name": "enhancing", "type": "bool"}],
}


def class_names(schema: dict[str, Any]) -> list[str]:
    return [c["name"] for c in schema.get("classes", [])]


def validate_attributes(schema: dict[str, Any], attributes: dict[str, Any]) -> list[str]:
    """Return readable problems with `attributes` against the schema (empty list = valid)."""
    spec = {a["name"]: a for a in schema.get("attributes", [])}
    problems: list[str] = []
    for name, value in attributes.items():
        a = spec.get(name)
        if a is None:
            problems.append(f"attribute '{name}' is not in the project's schema")
            continue
        kind = a.get("type", "str")
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"attribute '{name}' must be an integer")
            elif not (a.get("min", value) <= value <= a.get("max", value)):
                problems.append(f"attribute '{name}' must be within {a.get('min')}..{a.get('max')}")
        elif kind == "bool" and not isinstance(value, bool):
            problems.append(f"attribute '{name}' must be true or false")
        elif kind == "choice" and value not in a.get("choices", []):
            problems.append(f"attribute '{name}' must be one of {a.get('choices')}")
        elif kind == "str" and not isinstance(value, str):
            problems.append(f"attribute '{name}' must be text")
    return problems
