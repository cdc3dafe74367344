"""Which version each deploy target runs, kept on the registered model so that nothing deletes it.

One tag per target path: ``gaa.live.<12 hex of the target>`` holds JSON
``{"where": "sftp://a@host/…/best_weight.pth", "version": "3", "pending": null}``. A deploy writes
``pending`` before the rename that puts the new file in place and settles it afterwards, so a deploy
killed between the two leaves both versions marked as possibly running there; the next deploy or
rollback to that target settles it. ``outputs delete`` refuses a version that any target runs or
may run.

    from gaa_mlops.deploy import live
    live.targets_running(client, "gaa-ssd", "3")   # ["sftp://a@host/home/a/pytorch_ssd/weights/best_weight.pth"]
"""
from __future__ import annotations

import hashlib
import json

PREFIX = "gaa.live."


def tag_key(where: str) -> str:
    return PREFIX + hashlib.sha256(where.encode()).hexdigest()[:12]


def _read(client, name: str) -> dict[str, dict]:
    tags = client.get_registered_model(name).tags or {}
    out = {}
    for key, value in tags.items():
        if key.startswith(PREFIX):
            try:
                out[key] = json.loads(value)
            except ValueError:
                continue
    return out


def _write(client, name: str, where: str, version, pending) -> None:
    doc = {"where": where, "version": None if version is None else str(version),
           "pending": None if pending is None else str(pending)}
    client.set_registered_model_tag(name, tag_key(where), json.dumps(doc, sort_keys=True))


def mark_pending(client, name: str, where: str, version) -> None:
    """Before the new file replaces the old one: both may be running at ``where`` from now on."""
    current = _read(client, name).get(tag_key(where), {}).get("version")
    _write(client, name, where, current, version)


def mark_running(client, name: str, where: str, version) -> None:
    """``where`` runs ``version`` (None: a file this tool does not know, e.g. restored from an old backup)."""
    _write(client, name, where, version, None)


def targets_running(client, name: str, version) -> list[str]:
    """The targets where ``version`` of ``name`` runs, or may run after an interrupted deploy."""
    version = str(version)
    return sorted(doc.get("where", "?") for doc in _read(client, name).values()
                  if version in (doc.get("version"), doc.get("pending")))
