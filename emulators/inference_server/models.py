"""The served models: every catalogue base model, loaded once, and the LoRA adapters
loaded onto them at run time.

Each base model carries at most one `PeftModel`, created with its first adapter; later
adapters join it with `load_adapter`, so an adapter costs only its own weights. One lock
serialises generation with adapter changes, so a generation never sees another request's
adapter switch in the middle.

Which base model an adapter belongs to: the served one whose folder, catalogue name or
Hugging Face repository equals the adapter's `base_model_name_or_path`; failing that,
the only served base model (vLLM serves one base model, so it never asks).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.base_model_catalogue import BaseModelCatalogue, CatalogueModel, load_catalogue
from core.base_model_files import local_model_dir

from .errors import (
    ServingError,
    bad_request,
    internal_error,
    invalid_user_input,
    model_not_found,
    not_found,
    not_ready,
)
from .schemas import ModelCard
from .settings import InferenceServerSettings

log = logging.getLogger(__name__)


@dataclass
class ServedBaseModel:
    name: str
    folder: Path
    catalogue_entry: CatalogueModel
    tokenizer: Any
    # The transformers model; once an adapter is loaded, `peft` wraps it (in place).
    model: Any
    max_model_len: int
    peft: Any | None = None

    def matches(self, base_model_name_or_path: str) -> bool:
        if base_model_name_or_path in (self.name, self.catalogue_entry.hf_repo):
            return True
        candidate = Path(base_model_name_or_path)
        return candidate.is_absolute() and candidate.resolve() == self.folder.resolve()

    @property
    def root(self) -> str:
        """What `/v1/models` reports as the weights' origin: the Hugging Face repository
        (as vLLM does), else the served name, so no server path leaves the server."""
        return self.catalogue_entry.hf_repo or self.name


@dataclass
class LoadedAdapter:
    name: str
    # As the client sent it: `/v1/models` reports it back as the adapter's root.
    requested_path: str
    base: ServedBaseModel


@dataclass
class ModelServer:
    settings: InferenceServerSettings
    bases: dict[str, ServedBaseModel] = field(default_factory=dict)
    adapters: dict[str, LoadedAdapter] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False

    def load_base_models(self) -> None:
        """Load every catalogue model (blocking: run it in a thread)."""
        import torch
        from transformers import AutoTokenizer

        if self.settings.torch_threads:
            torch.set_num_threads(self.settings.torch_threads)
        catalogue = self._catalogue()
        for name, entry in catalogue.models.items():
            folder = local_model_dir(entry, self.settings.hf_cache_dir)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            if entry.chat_template is not None:
                tokenizer.chat_template = entry.chat_template
            model = _load_causal_lm(folder)
            positions = getattr(model.config, "max_position_embeddings", None)
            max_len = min(entry.max_seq_length, positions or entry.max_seq_length)
            self.bases[name] = ServedBaseModel(name, folder, entry, tokenizer, model, max_len)
            log.info("serving base model %s (max_model_len %d)", name, max_len)
        self.ready = True

    def _catalogue(self) -> BaseModelCatalogue:
        if self.settings.catalogue is None:
            raise RuntimeError("no catalogue: pass --catalogue or INFERENCE_SERVER_CATALOGUE")
        catalogue = load_catalogue(self.settings.catalogue)
        if not catalogue.models:
            raise RuntimeError("the catalogue names no model")
        return catalogue

    def resolve(self, model: str | None) -> tuple[ServedBaseModel, str | None, str]:
        """(base model, adapter name or None, served name) for a request's `model`."""
        if not self.ready:
            raise not_ready()
        if not model:
            base = next(iter(self.bases.values()))
            return base, None, base.name
        if model in self.bases:
            return self.bases[model], None, model
        adapter = self.adapters.get(model)
        if adapter is None:
            raise model_not_found(model)
        return adapter.base, adapter.name, model

    def model_cards(self) -> list[ModelCard]:
        cards = [
            ModelCard(id=base.name, root=base.root, max_model_len=base.max_model_len)
            for base in self.bases.values()
        ]
        cards += [
            ModelCard(id=adapter.name, root=adapter.requested_path, parent=adapter.base.name)
            for adapter in self.adapters.values()
        ]
        return cards

    def add_adapter(self, name: str, requested_path: str, load_inplace: bool) -> None:
        """Load a PEFT LoRA adapter folder under `name` (blocking: run it in a thread)."""
        self._add(name, self._adapter_folder(name, requested_path), requested_path, load_inplace)

    def resolve_adapter(self, name: str) -> bool:
        """vLLM's filesystem LoRA resolver: a request naming an unknown model loads the
        adapter in `<lora_resolver_dir>/<name>/` if there is one (blocking). False when
        there is none; a 400 when there is one that does not load."""
        directory = self.settings.lora_resolver_dir
        if directory is None:
            return False
        folder = (directory / name).resolve()
        if folder.parent != directory.resolve():
            return False  # a name that is not one folder name (`..`, `a/b`) resolves nothing
        if not (folder / "adapter_config.json").is_file():
            return False
        try:
            # The root `/v1/models` reports is the name: the folder is the server's own.
            self._add(name, folder, name, load_inplace=False)
        except ServingError:
            if name in self.adapters:
                return True  # another request resolved it first
            raise bad_request(f"LoRA adapter '{name}' was found but could not be loaded.") from None
        return True

    def _add(self, name: str, folder: Path, requested_path: str, load_inplace: bool) -> None:
        with self.lock:
            if name in self.adapters and not load_inplace:
                raise invalid_user_input(
                    f"The lora adapter '{name}' has already been loaded. If you want to "
                    "load the adapter in place, set 'load_inplace' to True."
                )
            if name in self.bases:
                raise invalid_user_input(f"'{name}' is the name of a served base model.")
            base = self._base_for(name, folder)
            if name in self.adapters:
                self._drop_adapter(self.adapters.pop(name))
            self._attach(base, name, folder)
            self.adapters[name] = LoadedAdapter(name, requested_path, base)
        log.info("loaded LoRA adapter %s onto %s", name, base.name)

    def remove_adapter(self, name: str) -> None:
        with self.lock:
            adapter = self.adapters.pop(name, None)
            if adapter is None:
                raise not_found(f"The lora adapter '{name}' cannot be found.")
            self._drop_adapter(adapter)
        log.info("removed LoRA adapter %s", name)

    def _adapter_folder(self, name: str, requested_path: str) -> Path:
        root = self.settings.adapter_root
        folder = Path(requested_path).expanduser()
        if root is not None:
            folder = (root / folder).resolve()
            if not folder.is_relative_to(root.resolve()):
                raise bad_request(
                    f"Loading lora {name} failed: lora_path must be a folder under the "
                    "server's adapter root.",
                    param="lora_path",
                )
        if not (folder / "adapter_config.json").is_file():
            raise not_found(f"Loading lora {name} failed: No adapter found for {requested_path}")
        return folder

    def _base_for(self, name: str, folder: Path) -> ServedBaseModel:
        config = _adapter_config(name, folder)
        if str(config.get("peft_type", "")).upper() != "LORA":
            raise bad_request(f"Loading lora {name} failed: the folder holds no LoRA adapter.")
        wanted = str(config.get("base_model_name_or_path") or "")
        for base in self.bases.values():
            if wanted and base.matches(wanted):
                return base
        if len(self.bases) == 1:
            return next(iter(self.bases.values()))
        raise bad_request(
            f"Loading lora {name} failed: its base model '{wanted}' is not served here."
        )

    def _attach(self, base: ServedBaseModel, name: str, folder: Path) -> None:
        from peft import PeftModel

        try:
            if base.peft is None:
                base.peft = PeftModel.from_pretrained(base.model, folder, adapter_name=name)
                base.peft.eval()
            else:
                base.peft.load_adapter(folder, adapter_name=name)
        except Exception as exc:
            # The reason names the failure's kind only: peft's messages carry server paths.
            log.warning("LoRA adapter %s did not load: %s", name, type(exc).__name__)
            if base.peft is not None and name in base.peft.peft_config:
                self._remove_from_peft(base, name)
            elif base.peft is None and _has_lora_layers(base.model):
                # A first adapter that failed half-way left LoRA layers in the base model.
                base.model = _load_causal_lm(base.folder)
            raise internal_error(
                f"Loading lora {name} failed: the adapter does not fit the base model "
                f"'{base.name}' ({type(exc).__name__})."
            ) from None

    def _drop_adapter(self, adapter: LoadedAdapter) -> None:
        self._remove_from_peft(adapter.base, adapter.name)

    @staticmethod
    def _remove_from_peft(base: ServedBaseModel, name: str) -> None:
        assert base.peft is not None
        if set(base.peft.peft_config) <= {name}:
            # The last adapter: unwrap, so the base model runs without LoRA layers again.
            base.model = base.peft.unload()
            base.peft = None
        else:
            base.peft.delete_adapter(name)


def _adapter_config(name: str, folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict):
        raise bad_request(f"Loading lora {name} failed: its adapter_config.json is unreadable.")
    return config


def _load_causal_lm(folder: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    return model


def _has_lora_layers(model: Any) -> bool:
    return any("lora_" in name for name, _ in model.named_modules())
