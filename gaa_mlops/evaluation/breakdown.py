"""Click success by design: on a project that records what it drew on each screen, where do the
models fail? ``eval_designs`` writes ``designs.json`` (one entry per screen: ``file_name`` relative to
the project, ``box``, and for a screen with a close button its ``source``, ``glyph``, ``enclosed``,
``plate``, ``effect``, ``knockout``, ``see_through``); ``evaluate`` reports click success per value of each
attribute (e.g. ``eval_designs.click_success.plate.rsquare``) with a bar chart, so a run that misses
the buttons on rounded squares or one icon set's glyphs says so without a notebook.

Click success counts the screens with a close button. A set whose screens without one record what
they show instead (``eval_counts``: the font family and weight its count strings are drawn in)
also gets the false-tap rate per value (``eval_counts.false_tap_rate.weight.thin``). Only attributes
with a few values count (``max_values``): per-glyph success over a few hundred buttons would be noise.
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Mapping, Sequence

DESIGNS_FILE = "designs.json"
SKIPPED_KEYS = ("file_name", "box")


def load_designs(project_root: str | Path) -> dict[Path, dict]:
    """``{resolved image path: attributes}`` from ``<project_root>/designs.json``; empty when the project
    has none. Raises ValueError naming the file when it is not a list of objects with a ``file_name``."""
    path = Path(project_root) / DESIGNS_FILE
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    if not isinstance(entries, list) or not all(isinstance(d, dict) and isinstance(d.get("file_name"), str)
                                                for d in entries):
        raise ValueError(f"{path}: expected a list of objects, each with a 'file_name'")
    root = Path(project_root).resolve()
    return {(root / d["file_name"]).resolve(): {k: v for k, v in d.items() if k not in SKIPPED_KEYS}
            for d in entries}


def value_name(value: object) -> str:
    """An attribute value as it appears in a metric name: ``true`` / ``false``, ``none`` for empty or
    null, any character MLflow does not allow in a metric name replaced by ``_``."""
    if isinstance(value, bool):
        return str(value).lower()
    text = "" if value is None else str(value)
    return re.sub(r"[^A-Za-z0-9_\-. ]", "_", text) or "none"


def _tally(rows: Sequence[dict], designs: Mapping[Path, dict], with_button: bool,
           max_values: int) -> dict[str, dict[str, Counter]]:
    """``{attribute: {value: Counter(outcome)}}`` over the rows of screens with (or without) a close
    button that have a design entry; attributes with more than ``max_values`` values are left out."""
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for row in rows:
        design = designs.get(Path(row["path"]).resolve())
        if bool(row["truth"]) != with_button or not design:
            continue
        for attr, value in design.items():
            if isinstance(value, (dict, list)):
                continue
            counts[attr][value_name(value)][row["outcome"]] += 1
    return {attr: dict(sorted(by_value.items())) for attr, by_value in sorted(counts.items())
            if len(by_value) <= max_values}


def design_breakdown(rows: Sequence[dict], designs: Mapping[Path, dict],
                     max_values: int = 12) -> dict[str, dict[str, dict[str, float]]]:
    """``{attribute: {value: {"n", "n_hit", "n_wrong_tap", "n_miss", "click_success"}}}`` over the
    evaluation ``rows`` (``path``, ``truth``, ``outcome``) of screens with a close button and a design
    entry; attributes with more than ``max_values`` values are left out."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for attr, by_value in _tally(rows, designs, True, max_values).items():
        out[attr] = {}
        for value, c in by_value.items():
            n = sum(c.values())
            out[attr][value] = {"n": n, "n_hit": c["hit"], "n_wrong_tap": c["wrong_tap"], "n_miss": c["miss"],
                                "click_success": c["hit"] / n}
    return out


def false_tap_breakdown(rows: Sequence[dict], designs: Mapping[Path, dict],
                        max_values: int = 12) -> dict[str, dict[str, dict[str, float]]]:
    """``{attribute: {value: {"n", "n_false_tap", "false_tap_rate"}}}`` over the rows of screens
    without a close button whose design entry says what they show."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for attr, by_value in _tally(rows, designs, False, max_values).items():
        out[attr] = {}
        for value, c in by_value.items():
            n = sum(c.values())
            out[attr][value] = {"n": n, "n_false_tap": c["false_tap"], "false_tap_rate": c["false_tap"] / n}
    return out


def breakdown_metrics(breakdown: Mapping[str, Mapping[str, Mapping[str, float]]], prefix: str = "",
                      key: str = "click_success") -> dict[str, float]:
    """``{prefix}<key>.<attribute>.<value>`` for every cell of the breakdown (``key``: click_success for
    ``design_breakdown``, false_tap_rate for ``false_tap_breakdown``)."""
    return {f"{prefix}{key}.{attr}.{value}": cell[key]
            for attr, by_value in breakdown.items() for value, cell in by_value.items()}


def breakdown_table(breakdown: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, list]:
    """Columns for ``mlflow.log_table``: one row per (attribute, value), one column per cell key."""
    keys = next((list(cell) for by_value in breakdown.values() for cell in by_value.values()), [])
    table: dict[str, list] = {"attribute": [], "value": [], **{k: [] for k in keys}}
    for attr, by_value in breakdown.items():
        for value, cell in by_value.items():
            table["attribute"].append(attr)
            table["value"].append(value)
            for k in keys:
                table[k].append(cell[k])
    return table
