"""The safe-deploy logic, written once against :class:`gaa_mlops.deploy.targets.Target`.

Deploy of a verified local weight file to ``path`` on a target::

    lock path.lock (exclusive create; refuses if held, takes over one whose deploy died on this host)
    remove temp files left by interrupted deploys
    upload to .best_weight.pth.<ts>.<rand>.tmp in the same directory
    sha256 of the temp file on the target == the registered sha256, else delete it and stop
    keep the current file as best_weight.pth.<ts>.bak (hard link, else copy; verified)
    before_swap (the caller records what is about to run there)
    rename the temp file over best_weight.pth (atomic)
    append a line to deploy_log.jsonl next to it
    smoke check; on failure roll back to the .bak just made, log it, raise SmokeCheckError
    keep the newest ``keep`` backups; unlock

Until the rename, best_weight.pth is untouched; the rename itself is atomic, so GameEye sees the
old or the new file, never a mixture. Rollback renames the newest backup over best_weight.pth
(after keeping the replaced file as ``.rolledback``), so repeated rollbacks walk back in time.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import logging
import os
import posixpath
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from gaa_mlops.deploy.targets import DeployError, Progress, Target

log = logging.getLogger(__name__)
LOG_NAME = "deploy_log.jsonl"
Smoke = Callable[[], "tuple[bool, str]"]


class LockError(DeployError):
    """Another deploy holds the target's lock."""


class VerifyError(DeployError):
    """A file on the target does not have the expected sha256."""


class SmokeCheckError(DeployError):
    """The smoke check failed after deploy; the previous file was restored."""


def utc_stamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%S.%fZ")


def utc_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Plan:
    """What a deploy or rollback will do, in words; ``dry_run`` prints it and stops."""

    action: str
    where: str
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"  {i}. {s}" for i, s in enumerate(self.steps, 1)]
        return "\n".join([f"{self.action} plan for {self.where}:"] + lines + [f"  now: {n}" for n in self.notes])


@dataclass
class Result:
    action: str                      # deploy | unchanged | rollback | auto-rollback | dry-run
    path: str
    where: str
    sha256: str | None = None        # what best_weight.pth holds afterwards
    previous_sha256: str | None = None
    backup: str | None = None
    version: str | None = None       # the version now in place, when known
    previous_version: str | None = None
    entry: dict | None = None
    plan: Plan | None = None
    smoke_output: str | None = None


def _names(path: str) -> tuple[str, str]:
    return posixpath.dirname(path) or ".", posixpath.basename(path)


def backups(target: Target, path: str, suffix: str = ".bak") -> list[str]:
    """Backup file names of ``path`` (oldest first): ``best_weight.pth.<UTC stamp><suffix>``."""
    d, base = _names(path)
    pat = re.compile(re.escape(base) + r"\.(\d{8}T\d{6}\.\d{6}Z)" + re.escape(suffix) + "$")
    try:
        return sorted((n for n in target.listdir(d) if pat.match(n)), key=lambda n: pat.match(n).group(1))
    except FileNotFoundError:
        return []


def read_log(target: Target, path: str) -> list[dict]:
    d, _ = _names(path)
    log = posixpath.join(d, LOG_NAME)
    try:
        text = target.read_bytes(log).decode(errors="replace")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return [e for e in entries if e.get("path") == path]


def _append_log(target: Target, path: str, entry: dict) -> None:
    d, _ = _names(path)
    target.append(posixpath.join(d, LOG_NAME), (json.dumps(entry, sort_keys=True) + "\n").encode())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class TargetLock:
    """``<path>.lock`` created exclusively; holds who/when; removed only by its owner (token)."""

    def __init__(self, target: Target, path: str, wait_s: float = 0.0, break_lock: bool = False):
        self.target, self.path, self.lock = target, path, path + ".lock"
        self.took_over: int | None = None
        self.wait_s, self.break_lock = float(wait_s), break_lock
        self.token = secrets.token_hex(8)
        self.info = {"host": socket.gethostname(), "user": getpass.getuser(), "pid": os.getpid(),
                     "since": utc_iso(), "token": self.token}

    def __enter__(self) -> "TargetLock":
        deadline = time.monotonic() + self.wait_s
        broke = False
        while True:
            try:
                self.target.create_exclusive(self.lock, json.dumps(self.info).encode())
                if self.took_over is not None:
                    _append_log(self.target, self.path, {
                        "time": utc_iso(), "action": "lock-taken-over", "path": self.path,
                        "stale_pid": self.took_over, "from_host": socket.gethostname(), "user": getpass.getuser()})
                return self
            except FileExistsError:
                holder = self._holder()
                dead = self._dead_local_holder()
                if dead is not None and not broke:
                    log.warning("%s was left by deploy pid %s on this host, which is no longer running: "
                                "taking it over", self.target.describe(self.lock), dead)
                    self.target.remove(self.lock)
                    self.took_over, broke = dead, True
                    continue
                if self.break_lock and not broke:
                    self.target.remove(self.lock)
                    broke = True
                    continue
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"{self.target.describe(self.lock)} is held by {holder}: another deploy to this path is "
                        f"running. If none is (a deploy that lost its connection leaves the lock behind), rerun "
                        f"with deploy.break_lock=true") from None
                time.sleep(0.5)

    def _dead_local_holder(self) -> int | None:
        """The pid that holds the lock when it ran on this host and has exited (a killed deploy)."""
        try:
            info = json.loads(self.target.read_bytes(self.lock))
            pid = int(info.get("pid"))
        except Exception:
            return None
        if info.get("host") != socket.gethostname() or pid == os.getpid():
            return None
        return None if pid_alive(pid) else pid

    def _holder(self) -> str:
        try:
            info = json.loads(self.target.read_bytes(self.lock))
            return f"{info.get('user')}@{info.get('host')} pid {info.get('pid')} since {info.get('since')}"
        except Exception:
            return "an unknown holder"

    def __exit__(self, *exc) -> None:
        try:
            if json.loads(self.target.read_bytes(self.lock)).get("token") == self.token:
                self.target.remove(self.lock)
        except Exception:  # a dead connection: the lock stays, and says who held it
            pass


def deploy_plan(target: Target, local_file: str, path: str, sha256: str, keep: int,
                label: str = "", smoke: bool = False) -> Plan:
    d, base = _names(path)
    plan = Plan("deploy", target.describe(path))
    plan.steps.append(f"lock {path}.lock")
    plan.steps.append(f"upload {local_file} ({os.path.getsize(local_file)} bytes{', ' + label if label else ''}) "
                      f"to {posixpath.join(d, '.' + base + '.<stamp>.tmp')}")
    plan.steps.append(f"check its sha256 on the target is {sha256}")
    plan.steps.append(f"keep the current {base} (if any) as {base}.<stamp>.bak")
    plan.steps.append(f"rename the temp file over {path} (atomic)")
    plan.steps.append(f"append an entry to {posixpath.join(d, LOG_NAME)}")
    if smoke:
        plan.steps.append("run the smoke check; roll back automatically if it fails")
    plan.steps.append(f"keep the newest {keep} backups; unlock")
    return plan


def _remove_stale_temps(target: Target, path: str) -> None:
    d, base = _names(path)
    for name in target.listdir(d):
        # a lock's own temp lives for microseconds while another deploy takes the lock: not ours to sweep
        if name.startswith(f".{base}.") and name.endswith(".tmp") and not name.startswith(f".{base}.lock."):
            try:
                target.remove(posixpath.join(d, name))
            except OSError:
                pass


def _prune(target: Target, path: str, keep: int) -> list[str]:
    d, _ = _names(path)
    removed = []
    for suffix in (".bak", ".rolledback"):
        old = backups(target, path, suffix)
        for name in old[: max(0, len(old) - keep)]:
            target.remove(posixpath.join(d, name))
            removed.append(name)
    return removed


def _fail(target: Target, step: str, path: str, exc: BaseException, swapped: str | None = None) -> DeployError:
    """A clear DeployError; ``swapped`` names the backup when the new file was already renamed in place."""
    if isinstance(exc, DeployError):
        return exc
    text = str(exc) or type(exc).__name__
    hint = ""
    if isinstance(exc, PermissionError):
        hint = " (permission denied: the deploy user cannot write there)"
    elif isinstance(exc, OSError) and exc.errno in (28, 27, 122):
        hint = " (no space left / file too large / quota)"
    elif isinstance(exc, OSError) and text.strip() == "Failure":
        hint = " (the server reported a generic failure: a full disk or quota is the usual cause)"
    elif isinstance(exc, NotADirectoryError) or (isinstance(exc, OSError) and exc.errno == 20):
        hint = " (a parent of the path is not a directory)"
    state = ("the previous best_weight.pth was left in place" if swapped is None else
             f"the NEW file is in place (previous kept as {swapped or 'nothing'}): check it, or run action=rollback")
    return DeployError(f"{step} failed on {target.describe(path)}: {type(exc).__name__}: {text}{hint}; {state}")


def deploy_file(target: Target, local_file: str, path: str, sha256: str, *, keep: int = 5,
                meta: dict | None = None, dry_run: bool = False, smoke: Smoke | None = None,
                lock_wait_s: float = 0.0, break_lock: bool = False, create_dirs: bool = True,
                on_progress: Progress | None = None, before_swap: Callable[[], None] | None = None,
                echo: Callable[[str], None] = print) -> Result:
    """Put ``local_file`` (whose sha256 is ``sha256``) at ``path`` on ``target``, safely (see module doc
    and :class:`_Deploy` for the steps and what each failure restores).

    ``before_swap`` runs under the lock just before the rename (the registry records the intent there,
    so that a deploy killed after the rename still leaves a record); if it raises, nothing is replaced.
    """
    meta = dict(meta or {})
    label = " ".join(f"{k}={meta[k]}" for k in ("registered_name", "version") if meta.get(k))
    plan = deploy_plan(target, local_file, path, sha256, keep, label, smoke is not None)
    if dry_run:
        return _dry_run(target, path, sha256, plan, echo)
    if keep < 1:
        raise DeployError(f"deploy.keep must be at least 1 (got {keep}): a rollback needs a previous file")
    job = _Deploy(target, local_file, path, sha256, meta, plan, on_progress, echo)
    return job.run(keep, smoke, lock_wait_s, break_lock, create_dirs, before_swap)


def _dry_run(target: Target, path: str, sha256: str, plan: Plan, echo: Callable[[str], None]) -> Result:
    """A read-only look at the target (this also checks the connection and host key)."""
    try:
        current = target.sha256(path) if target.exists(path) else None
    except Exception as exc:
        raise _fail(target, "inspecting the target", path, exc) from exc
    plan.notes.append(f"{'sha256 ' + current if current else 'no file'} at {path}; "
                      f"{len(backups(target, path))} backup(s)"
                      f"{'; identical to the new file, the deploy would do nothing' if current == sha256 else ''}")
    echo(f"dry run, nothing is touched.\n{plan}")
    return Result("dry-run", path, target.describe(path), sha256=current, plan=plan)


@dataclass
class _Deploy:
    """One deploy, as the steps of :meth:`run` in order. ``step`` names the one running, for the
    error; ``swapped`` is None until the rename (then the backup's name, "" when there was no file),
    so the error says whether the old or the new file is in place.

    What a failure restores: before the rename, the temp upload is removed and the old file was
    never touched; a failed smoke check renames the backup just made back into place; after the
    rename, anything else (log, prune) leaves the new file and says so."""
    target: Target
    local_file: str
    path: str
    sha256: str
    meta: dict
    plan: Plan
    on_progress: Progress | None
    echo: Callable[[str], None]
    step: str = "preparing the target directory"
    swapped: str | None = None
    previous: str | None = None          # sha256 of the file the deploy replaces
    prev_version: str | None = None      # its version, from the deployment log
    backup: str | None = None

    def __post_init__(self):
        self.dir, self.base = _names(self.path)
        self.where = self.target.describe(self.path)

    def _do(self, step: str, action: Callable[[], object]):
        self.step = step
        return action()

    def run(self, keep: int, smoke: Smoke | None, lock_wait_s: float, break_lock: bool, create_dirs: bool,
            before_swap: Callable[[], None] | None) -> Result:
        t = self.target
        try:
            if create_dirs:
                self._do("preparing the target directory", lambda: t.makedirs(self.dir))
            self.step = "locking"
            with TargetLock(t, self.path, lock_wait_s, break_lock):
                self._do("removing temp files of interrupted deploys", lambda: _remove_stale_temps(t, self.path))
                self._do("reading the current file", self._read_current)
                if self.previous == self.sha256:
                    return self._unchanged()
                stamp = utc_stamp()
                tmp = posixpath.join(self.dir, f".{self.base}.{stamp}.{secrets.token_hex(4)}.tmp")
                with self._removed_unless_renamed(tmp):
                    self._do(f"uploading to {tmp}", lambda: self._upload(tmp))
                    self._do("verifying the uploaded file", lambda: self._verify_upload(tmp))
                    if self.previous is not None:
                        self.backup = f"{self.base}.{stamp}.bak"
                        self._do(f"keeping the previous file as {self.backup}", self._keep_previous)
                    if before_swap is not None:
                        self._do("recording the deploy before the rename", before_swap)
                    self._do(f"renaming {tmp} over {self.path}", lambda: self._swap(tmp))
                self._do("verifying the deployed file", self._verify_deployed)
                result = self._do("writing the deployment log", self._log)
                if smoke is not None:
                    self._do("running the smoke check", lambda: self._smoke(smoke, result))
                self._do("pruning old backups", lambda: _prune(t, self.path, keep))
                return result
        except DeployError:
            raise
        except Exception as exc:
            raise _fail(t, self.step, self.path, exc, self.swapped) from exc

    def _read_current(self) -> None:
        self.previous = self.target.sha256(self.path) if self.target.exists(self.path) else None
        self.prev_version = _version_of(read_log(self.target, self.path), self.previous)

    def _unchanged(self) -> Result:
        self.echo(f"{self.where} already holds sha256 {self.sha256}; nothing to do")
        entry = _entry("unchanged", self.path, self.sha256, self.previous, None, self.meta)
        _append_log(self.target, self.path, entry)
        return Result("unchanged", self.path, self.where, self.sha256, self.previous, version=self.meta.get("version"),
                      previous_version=self.prev_version, entry=entry, plan=self.plan)

    @contextlib.contextmanager
    def _removed_unless_renamed(self, tmp: str):
        """Undo of the steps up to the rename: whatever fails (or kills the deploy) before it, the
        temp upload goes and best_weight.pth is as it was."""
        try:
            yield
        except BaseException:
            try:
                if self.target.exists(tmp):
                    self.target.remove(tmp)
            except Exception:
                pass
            raise

    def _upload(self, tmp: str) -> None:
        self.echo(f"uploading {self.local_file} to {self.target.describe(tmp)}")
        self.target.put(self.local_file, tmp, self.on_progress)

    def _verify_upload(self, tmp: str) -> None:
        got = self.target.sha256(tmp)
        if got != self.sha256:
            raise VerifyError(f"uploaded {self.target.describe(tmp)} has sha256 {got}, expected {self.sha256}; "
                              f"removed it, the previous best_weight.pth was left in place")

    def _keep_previous(self) -> None:
        kept = posixpath.join(self.dir, self.backup)
        self.target.link_or_copy(self.path, kept)
        if self.target.sha256(kept) != self.previous:
            raise VerifyError(f"backup {self.backup} does not match the current file; stopped")

    def _swap(self, tmp: str) -> None:
        self.target.rename(tmp, self.path)
        self.swapped = self.backup or ""

    def _verify_deployed(self) -> None:
        now = self.target.sha256(self.path)
        if now != self.sha256:
            raise VerifyError(f"{self.where} has sha256 {now} right after the rename, expected {self.sha256}")

    def _log(self) -> Result:
        entry = _entry("deploy", self.path, self.sha256, self.previous, self.backup, self.meta)
        _append_log(self.target, self.path, entry)
        self.echo(f"deployed sha256 {self.sha256} to {self.where}"
                  + (f" (previous kept as {self.backup})" if self.backup else ""))
        return Result("deploy", self.path, self.where, self.sha256, self.previous, self.backup,
                      self.meta.get("version"), self.prev_version, entry, self.plan)

    def _smoke(self, smoke: Smoke, result: Result) -> None:
        """Undo of a failed smoke check: the backup just made goes back in place (auto-rollback)."""
        ok, output = smoke()
        result.smoke_output = output
        if ok:
            self.echo("smoke check passed")
            return
        if self.backup is None:
            raise SmokeCheckError(f"smoke check failed on {self.where} and there is no previous file to "
                                  f"restore; the new file stays. Output:\n{output}")
        who = {k: self.meta[k] for k in ("model", "registered_name") if k in self.meta}
        restored = _rollback_locked(self.target, self.path, who, reason="smoke check failed",
                                    action="auto-rollback", echo=self.echo)
        raise SmokeCheckError(
            f"smoke check failed on {self.where}; rolled back automatically to sha256 {restored.sha256}"
            f" (version {restored.version or 'unknown'}). Output:\n{output.strip()[-2000:]}")


def _version_of(entries: list[dict], sha: str | None) -> str | None:
    if sha is None:
        return None
    for e in reversed(entries):
        if e.get("sha256") == sha and e.get("version") is not None:
            return str(e["version"])
    return None


def _entry(action: str, path: str, sha: str | None, previous: str | None, backup: str | None, meta: dict) -> dict:
    entry = {"time": utc_iso(), "action": action, "path": path, "sha256": sha, "previous_sha256": previous,
             "backup": backup, "from_host": socket.gethostname(), "user": getpass.getuser()}
    for key in ("model", "registered_name", "version", "alias", "run_id", "reason"):
        if meta.get(key) is not None:
            entry[key] = str(meta[key])
    return entry


def rollback_plan(target: Target, path: str) -> Plan:
    plan = Plan("rollback", target.describe(path))
    found = backups(target, path)
    plan.steps.append(f"lock {path}.lock")
    if not found:
        plan.steps.append("no backup to restore: the rollback would fail")
        return plan
    base = posixpath.basename(path)
    plan.steps.append(f"keep the current {base} as {base}.<stamp>.rolledback")
    plan.steps.append(f"rename {found[-1]} over {path} (atomic); {len(found) - 1} older backup(s) remain")
    plan.steps.append(f"append an entry to {posixpath.join(_names(path)[0], LOG_NAME)}")
    return plan


def rollback(target: Target, path: str, *, meta: dict | None = None, dry_run: bool = False,
             lock_wait_s: float = 0.0, break_lock: bool = False, echo: Callable[[str], None] = print) -> Result:
    """Restore the newest backup of ``path`` and record it in the deployment log."""
    where = target.describe(path)
    step = "planning"
    try:
        if dry_run:
            plan = rollback_plan(target, path)
            echo(f"dry run, nothing is touched.\n{plan}")
            return Result("dry-run", path, where, plan=plan)
        if not target.exists(_names(path)[0]):
            raise DeployError(f"nothing to roll back at {where}: its folder does not exist (nothing was ever "
                              f"deployed there; check deploy.paths and the host)")
        step = "locking"
        with TargetLock(target, path, lock_wait_s, break_lock):
            return _rollback_locked(target, path, dict(meta or {}), reason=(meta or {}).get("reason"),
                                    action="rollback", echo=echo)
    except DeployError:
        raise
    except Exception as exc:
        raise _fail(target, step, path, exc) from exc


def _rollback_locked(target: Target, path: str, meta: dict, reason: str | None, action: str,
                     echo: Callable[[str], None]) -> Result:
    d, base = _names(path)
    found = backups(target, path)
    if not found:
        raise DeployError(f"nothing to roll back to: no {base}.<stamp>.bak next to {target.describe(path)}")
    newest = found[-1]
    src = posixpath.join(d, newest)
    restored = target.sha256(src)
    entries = read_log(target, path)
    recorded = next((e.get("previous_sha256") for e in reversed(entries) if e.get("backup") == newest), None)
    if recorded and recorded != restored:
        raise VerifyError(f"backup {newest} has sha256 {restored} but the deployment log recorded {recorded}; "
                          f"refusing to restore a corrupted backup")
    current = target.sha256(path) if target.exists(path) else None
    current_version = _version_of(entries, current)
    kept = None
    if current is not None:
        kept = f"{base}.{utc_stamp()}.rolledback"
        target.link_or_copy(path, posixpath.join(d, kept))
    target.rename(src, path)
    now = target.sha256(path)
    if now != restored:
        raise VerifyError(f"{target.describe(path)} has sha256 {now} after restoring {newest} ({restored})")
    version = _version_of(entries, restored)
    entry = _entry(action, path, restored, current, kept, {**meta, "version": version, "reason": reason})
    entry["restored_from"] = newest
    entry["replaced_version"] = current_version
    _append_log(target, path, entry)
    echo(f"{action}: restored {newest} (sha256 {restored}, version {version or 'unknown'}) at {target.describe(path)}")
    return Result(action, path, target.describe(path), restored, current, kept, version, current_version, entry)
