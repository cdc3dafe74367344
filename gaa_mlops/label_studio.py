"""A Label Studio server, through its SDK: the project the field frames are labelled in, and its export.

    export LABEL_STUDIO_API_KEY=...        # Label Studio: Account & Settings -> Access Token
    python -m gaa_mlops.label export field/ --server http://127.0.0.1:8080 [--ls-project gaa-field]
    python -m gaa_mlops.label import gaa-field --server http://127.0.0.1:8080 --project field_2026_12

Used by :mod:`gaa_mlops.label`; ``label-studio-sdk`` is the ``label-studio`` extra (``pip install -e
'.[label-studio]'``), imported only here. The key is read from ``LABEL_STUDIO_API_KEY`` (or given),
sent only as the SDK's Authorization header, and never printed: errors name the server, the step
and Label Studio's answer.

A project is found by its exact title, or created with the labelling config; a changed config is
updated. Its frames are served by Label Studio's local files: the server must run with
``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``
at or above the recording folder (on the machine that holds it), and the project gets a Local
Storage on that folder (never synced: the tasks come with GameEye's pre-annotations instead).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Union

from gaa_mlops.projects import ProjectError

API_KEY_ENV = "LABEL_STUDIO_API_KEY"
TIMEOUT_S = 120.0


class LabelStudioError(ProjectError):
    """A Label Studio server that could not do its part; the message names the server and the step."""


class LabelStudioServer:
    """One Label Studio server at ``url``, authenticated with ``api_key`` (default: $LABEL_STUDIO_API_KEY)."""

    def __init__(self, url: str, api_key: Optional[str] = None):
        self.url = url.rstrip("/")
        key = api_key or os.environ.get(API_KEY_ENV, "")
        if not key:
            raise LabelStudioError(f"--server {self.url}: no API key; set {API_KEY_ENV} to a Label Studio access "
                                   "token (Account & Settings -> Access Token)")
        try:
            from label_studio_sdk import LabelStudio
        except ImportError:
            raise LabelStudioError(f"--server {self.url} needs the Label Studio SDK: pip install -e "
                                   "'.[label-studio]'") from None
        self._ls = LabelStudio(base_url=self.url, api_key=key, timeout=TIMEOUT_S)

    def _call(self, step: str, fn: Callable[[], Any], none_if_missing: bool = False) -> Any:
        """``fn()``, with any failure turned into one line naming the server and ``step`` (never the
        key); ``none_if_missing``: None for an HTTP 404."""
        from label_studio_sdk.core.api_error import ApiError

        try:
            return fn()
        except ApiError as exc:
            if none_if_missing and exc.status_code == 404:
                return None
            body = exc.body if isinstance(exc.body, str) else json.dumps(exc.body, default=str)
            hint = " (is LABEL_STUDIO_API_KEY a valid access token?)" if exc.status_code in (401, 403) else ""
            raise LabelStudioError(f"Label Studio at {self.url}: {step}: HTTP {exc.status_code}{hint}: "
                                   f"{body[:300]}") from None
        except Exception as exc:   # httpx's connect/timeout errors, a server that is not Label Studio
            raise LabelStudioError(f"Label Studio at {self.url}: {step}: {type(exc).__name__}: {exc}") from None

    # ------------------------------------------------------------------ projects
    def find_project(self, ref: Union[int, str]) -> Optional[Any]:
        """The project with this id (an int, or a string of digits) or exact title; None when none has it."""
        text = str(ref)
        if text.isdigit():
            return self._call(f"get project {text}", lambda: self._ls.projects.get(int(text)), none_if_missing=True)
        projects = self._call(f"find project {text!r}", lambda: list(self._ls.projects.list(title=text)))
        return next((p for p in projects if p.title == text), None)

    def ensure_project(self, title: str, label_config: str, frames_folder: Path) -> int:
        """The id of project ``title``, created (or its labelling config updated) as needed, with a
        Local Storage on ``frames_folder`` so that Label Studio may serve its images."""
        project = self.find_project(title)
        if project is None:
            project = self._call(f"create project {title!r}", lambda: self._ls.projects.create(
                title=title, label_config=label_config,
                description="GameEye field frames with pre-annotations (gaa_mlops.label export)"))
        elif (project.label_config or "").strip() != label_config.strip():
            self._call(f"update the labelling config of project {title!r}",
                       lambda: self._ls.projects.update(project.id, label_config=label_config))
        folder = str(Path(frames_folder).resolve())
        storages = self._call(f"list local storages of project {title!r}",
                              lambda: list(self._ls.import_storage.local.list(project=project.id)))
        if not any(os.path.normpath(s.path or "") == folder for s in storages):
            self._call(f"add local storage {folder} to project {title!r} (is the server started with "
                       "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT "
                       "at or above it?)",
                       lambda: self._ls.import_storage.local.create(project=project.id, path=folder,
                                                                    title="GameEye field frames",
                                                                    use_blob_urls=True))
        return int(project.id)

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> int:
        """Import ``tasks`` (with their pre-annotations) into the project; how many it took."""
        if not tasks:
            return 0
        answer = self._call(f"import {len(tasks)} tasks into project {project_id}",
                            lambda: self._ls.projects.import_tasks(project_id, request=tasks, return_task_ids=True))
        return int(answer.task_count or 0)

    def export(self, ref: Union[int, str]) -> list[dict[str, Any]]:
        """Label Studio's JSON export of the project (id or exact title), every task included."""
        project = self.find_project(ref)
        if project is None:
            raise LabelStudioError(f"Label Studio at {self.url}: no project with id or title {str(ref)!r}")
        data = self._call(f"export project {project.title!r} (id {project.id})", lambda: b"".join(
            self._ls.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True)))
        try:
            return json.loads(data)
        except ValueError:
            raise LabelStudioError(f"Label Studio at {self.url}: the export of project {project.id} is not "
                                   "JSON") from None
