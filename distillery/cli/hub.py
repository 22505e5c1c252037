"""Publishing a Hugging Face dataset folder on the Hub. huggingface_hub is the `hub` extra,
imported here only, when a push runs.

The token is the caller's or huggingface_hub's own (HF_TOKEN, then `hf auth login`'s). It
goes to huggingface_hub alone: it is masked in every log line and error this process
prints (distillery/security/scrub.py), and never echoed.
"""

from __future__ import annotations

from pathlib import Path

from distillery.client.errors import ClientError
from distillery.security.scrub import remember, scrub

INSTALL = "pushing to the Hugging Face Hub needs the `hub` extra: pip install 'distillery[hub]'"


class Hub:
    """The Hub as one account sees it. Made before anything is downloaded, so a missing
    extra is reported first."""

    def __init__(self, token: str | None) -> None:
        try:
            from huggingface_hub import HfApi, get_token
            from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalTokenNotFoundError
        except ImportError:
            raise ClientError(INSTALL) from None
        self._secret = token or get_token()
        remember(self._secret)
        self._api = HfApi(token=token)
        self._errors = (HfHubHTTPError, HFValidationError, LocalTokenNotFoundError)

    def push(self, folder: Path, repo_id: str, *, private: bool, message: str) -> str:
        """Create the dataset repository `repo_id` if it is new, upload `folder` to it as one
        commit, and return the repository's URL."""
        try:
            # private None: the account's default visibility; an existing repository keeps its own.
            url = self._api.create_repo(repo_id, repo_type="dataset", private=private or None, exist_ok=True)
            self._api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type="dataset", commit_message=message)
        except self._errors as exc:
            raise ClientError(f"Hugging Face Hub: {scrub(str(exc), self._secret)}") from None
        return str(url)
