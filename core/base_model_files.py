"""Where a catalogue model's files are on this machine. Nothing downloads: a Hugging Face
repository is read from the local cache at its pinned revision (production fills the cache
ahead of time), and a path is used as it is."""

from __future__ import annotations

from pathlib import Path

from core.base_model_catalogue import CatalogueModel


class BaseModelFilesMissing(Exception):
    """The model's files are not on this machine; the message says where they were sought."""


def local_model_dir(model: CatalogueModel, hf_cache_dir: Path | None = None) -> Path:
    if model.path is not None:
        if "://" in model.path:
            raise BaseModelFilesMissing(
                "base models in an object store are copied to a local path first"
            )
        directory = Path(model.path)
        if not (directory / "config.json").is_file():
            raise BaseModelFilesMissing("the catalogue's path holds no model (no config.json)")
        return directory
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    assert model.hf_repo is not None
    try:
        found = snapshot_download(
            model.hf_repo,
            revision=model.revision,
            cache_dir=hf_cache_dir,
            local_files_only=True,
        )
    except LocalEntryNotFoundError:
        raise BaseModelFilesMissing(
            f"{model.hf_repo}@{model.revision} is not in the Hugging Face cache"
        ) from None
    return Path(found)
