"""Upload targets for checkpoints, behind one small interface.

``Hub.upload(folder, hub_model_id, *, private) -> url`` pushes a checkpoint folder to a model
repository named ``org/name`` and returns where it can be found. Three hubs:

* ``local``: a folder on the server (``hubs.local_dir``), for offline use and tests; a ``file://`` url.
* ``modelscope``: ModelScope through its official ``modelscope`` library (``HubApi``).
* ``huggingface``: the Hugging Face Hub through ``huggingface_hub`` (``HfApi``).

The client libraries are imported only when an upload runs, so the server starts without them; a
hub whose library or token is missing answers :class:`Unavailable` saying what to install or set.
Uploads are slow, so the HTTP layer runs them as upload tasks (``store.create_upload_task``).

Example::

    hub = get_hub("local", settings)
    url = hub.upload(checkpoint_folder, "alice/my-lora", private=True)
"""

from __future__ import annotations

import abc
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twinkle_server.config import Settings
from twinkle_server.errors import InvalidInput, NotFound, Unavailable
from twinkle_server.progress import current as current_progress

__all__ = [
    "HUB_MODEL_ID_MAX",
    "HUB_NAMES",
    "Hub",
    "HuggingFaceHub",
    "LocalFolderHub",
    "ModelScopeHub",
    "get_hub",
    "validate_hub_model_id",
]

HUB_NAMES = ("local", "modelscope", "huggingface")
# The same rule as UploadCheckpointRequest.hub_model_id in openapi.yaml: runs of letters and digits
# joined by single '.', '_' or '-' (so no '..', no leading or trailing separator), at most 193 in all.
_PART = r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*"
_HUB_MODEL_ID = re.compile(rf"^({_PART})/({_PART})$")
HUB_MODEL_ID_MAX = 193


def validate_hub_model_id(hub_model_id: str) -> tuple[str, str]:
    """Split ``org/name`` into (org, name); InvalidInput unless each part is letters and digits
    joined by single ``.``, ``_`` or ``-`` (no ``..``; no separator first or last), 193 characters
    at most in all."""
    ok = isinstance(hub_model_id, str) and len(hub_model_id) <= HUB_MODEL_ID_MAX
    match = _HUB_MODEL_ID.match(hub_model_id) if ok else None
    if match is None:
        raise InvalidInput(
            f"invalid hub_model_id {hub_model_id!r}: use 'org/name', each part letters and digits "
            "joined by single '.', '_' or '-' (e.g. 'alice/qwen-lora'), 193 characters at most",
            details={"field": "hub_model_id"},
        )
    return match.group(1), match.group(2)


def _check_folder(folder: Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFound(f"checkpoint folder {folder.name!r} does not exist")
    return folder


class Hub(abc.ABC):
    """Where checkpoints can be uploaded. Subclasses implement :meth:`upload`."""

    name: str = ""

    @abc.abstractmethod
    def upload(self, folder: Path, hub_model_id: str, *, private: bool) -> str:
        """Upload every file of ``folder`` to the repository ``hub_model_id``; return its url.

        Raises:
            InvalidInput: ``hub_model_id`` is malformed. NotFound: ``folder`` is missing.
            Unavailable: the hub cannot be used (library or token missing, hub unreachable).
        """


class LocalFolderHub(Hub):
    """A hub in a local folder: ``<root>/<org>/<name>/``. ``private`` has no effect here.

    Uploading again to the same id replaces the previous content, as a new revision would on a real
    hub; the new copy is complete before it takes the old one's place.
    """

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def upload(self, folder: Path, hub_model_id: str, *, private: bool) -> str:
        org, repo = validate_hub_model_id(hub_model_id)
        folder = _check_folder(folder)
        root = self.root.resolve()
        final = root / org / repo
        if final.resolve().parent != (root / org).resolve() or (root / org).resolve().parent != root:
            raise InvalidInput(f"hub_model_id {hub_model_id!r} resolves outside the local hub folder")
        final.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(6)
        temp = final.parent / f".{repo}.tmp-{token}"
        try:
            _copy_regular(folder, temp)
            if final.exists():
                old = final.parent / f".{repo}.old-{token}"
                os.rename(final, old)
                os.rename(temp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(temp, final)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return final.as_uri()


def _copy_regular(src: Path, dst: Path) -> None:
    """Copy folders and regular files (never links) from ``src`` into a new folder ``dst``."""
    dst.mkdir()
    for entry in sorted(src.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            _copy_regular(entry, dst / entry.name)
        elif entry.is_file():
            shutil.copy2(entry, dst / entry.name)
            progress = current_progress()
            if progress is not None:
                progress.advance(entry.stat().st_size)


class _TokenHub(Hub):
    """A remote hub reached with a token read from an environment variable (or given directly)."""

    label = ""
    package = ""

    def __init__(self, *, token_env: str, token: str | None = None) -> None:
        self.token_env = token_env
        self._token = token

    def _require_token(self) -> str:
        token = self._token or os.environ.get(self.token_env, "")
        if not token:
            raise Unavailable(
                f"uploads to {self.label} need an access token: set the environment variable "
                f"{self.token_env} on the server",
                details={"hub": self.name},
            )
        return token

    def _missing_library(self, exc: ImportError) -> Unavailable:
        return Unavailable(
            f"uploads to {self.label} need the {self.package!r} package on the server: "
            f"pip install {self.package}",
            details={"hub": self.name},
        )

    def _failed(self, hub_model_id: str, exc: Exception) -> Unavailable:
        reason = str(exc)
        token = self._token or os.environ.get(self.token_env, "")
        if token:  # a hub library may quote the request; the token must never reach a user
            reason = reason.replace(token, "***")
        return Unavailable(
            f"upload of {hub_model_id!r} to {self.label} failed: {type(exc).__name__}: {reason}",
            details={"hub": self.name},
        )


class ModelScopeHub(_TokenHub):
    """ModelScope through ``modelscope.hub.api.HubApi`` (``create_repo`` + ``upload_folder``)."""

    name, label, package = "modelscope", "ModelScope", "modelscope"

    def __init__(
        self, *, token_env: str, token: str | None = None, api_factory: Callable[[], Any] | None = None
    ) -> None:
        super().__init__(token_env=token_env, token=token)
        self._api_factory = api_factory

    def _api(self) -> Any:
        if self._api_factory is not None:
            return self._api_factory()
        try:
            from modelscope.hub.api import HubApi
        except ImportError as exc:
            raise self._missing_library(exc) from exc
        return HubApi()

    def upload(self, folder: Path, hub_model_id: str, *, private: bool) -> str:
        validate_hub_model_id(hub_model_id)
        folder = _check_folder(folder)
        token = self._require_token()
        api = self._api()
        try:
            url = api.create_repo(
                hub_model_id,
                token=token,
                visibility="private" if private else "public",
                repo_type="model",
                exist_ok=True,
            )
            api.upload_folder(
                repo_id=hub_model_id,
                folder_path=str(folder),
                commit_message=f"Upload LoRA checkpoint {folder.name}",
                token=token,
                repo_type="model",
            )
        except Exception as exc:
            raise self._failed(hub_model_id, exc) from exc
        return str(url) if url else f"https://www.modelscope.cn/models/{hub_model_id}"


class HuggingFaceHub(_TokenHub):
    """The Hugging Face Hub through ``huggingface_hub.HfApi`` (``create_repo`` + ``upload_folder``)."""

    name, label, package = "huggingface", "Hugging Face", "huggingface_hub"

    def __init__(
        self, *, token_env: str, token: str | None = None, api_factory: Callable[[str], Any] | None = None
    ) -> None:
        super().__init__(token_env=token_env, token=token)
        self._api_factory = api_factory

    def _api(self, token: str) -> Any:
        if self._api_factory is not None:
            return self._api_factory(token)
        try:
            from huggingface_hub import HfApi
        except ImportError as exc:
            raise self._missing_library(exc) from exc
        return HfApi(token=token)

    def upload(self, folder: Path, hub_model_id: str, *, private: bool) -> str:
        validate_hub_model_id(hub_model_id)
        folder = _check_folder(folder)
        api = self._api(self._require_token())
        try:
            url = api.create_repo(hub_model_id, private=private, repo_type="model", exist_ok=True)
            api.upload_folder(
                repo_id=hub_model_id,
                folder_path=str(folder),
                commit_message=f"Upload LoRA checkpoint {folder.name}",
                repo_type="model",
            )
        except Exception as exc:
            raise self._failed(hub_model_id, exc) from exc
        return str(url) if url else f"https://huggingface.co/{hub_model_id}"


def get_hub(name: str | None, settings: Settings, *, token: str | None = None) -> Hub:
    """The hub called ``name`` (``settings.hubs.default`` when None), configured from ``settings``.

    Args:
        token: a token for this upload only, used instead of the server's environment variable.

    Raises:
        InvalidInput: ``name`` is not one of local, modelscope, huggingface.
    """
    name = name or settings.hubs.default
    if name == "local":
        assert settings.hubs.local_dir is not None  # filled from data_dir by Settings
        return LocalFolderHub(settings.hubs.local_dir)
    if name == "modelscope":
        return ModelScopeHub(token_env=settings.hubs.modelscope_token_env, token=token)
    if name == "huggingface":
        return HuggingFaceHub(token_env=settings.hubs.huggingface_token_env, token=token)
    raise InvalidInput(f"unknown hub {name!r}; use one of {', '.join(HUB_NAMES)}", details={"field": "hub"})
