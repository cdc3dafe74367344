"""Deploy registered weights to the pytorch server (SSH/SFTP) or a local directory, safely, with rollback.

Run:
    python -m gaa_mlops.deploy model=ssd deploy=ssh deploy.host=pytorch-server [version=N|alias=champion]
        [action=deploy|rollback] [dry_run=true]

Modules: ``targets`` (local directory and SSH/SFTP behind one small interface), ``core`` (the
safe deploy/rollback logic: temp upload, sha256 check, backups, atomic rename, lock, log),
``smoke`` (post-deploy check command), ``cli`` (the Hydra entry point and MLflow glue).
"""
from __future__ import annotations


def main() -> None:
    """Console script ``gaa-deploy`` (setup.cfg) and ``python -m gaa_mlops.deploy``."""
    from gaa_mlops.deploy.cli import main as _main

    _main()
