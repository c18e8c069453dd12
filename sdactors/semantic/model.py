"""The meaning of a name: a static word-embedding model run with numpy, shipped in a wheel.

The model is WordLlama's ``l2_supercat`` (the ``wordllama`` package): a table of one vector
per token of Llama 2's tokenizer, trained so that the mean of a text's token vectors is its
meaning. Embedding a name is a tokenizer call and a mean, about 50k names per second on one
core (``tools/bench_semantic.py``), which is what a vector for every entry of a
million-entry index needs (a sentence model through onnxruntime embeds 570-1,230 a second on
two cores, by the issue's measurement; and none is shipped on PyPI with its tokenizer but
with PyTorch: ARCHITECTURE.md, search). Its files are read from inside the installed package with our
own few lines: importing ``wordllama`` would configure the root logger and, for a missing
file, try to download it. Nothing here reaches the network.

The vectors are Matryoshka-trained: their first ``DIM`` components are a vector of their own,
and ``DIM`` is chosen by measurement (quality against the labelled queries, memory at 1M).
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from pathlib import Path

import numpy as np

from sdactors.runtime.errors import SemanticUnavailable

# No hub is ever asked for anything (tokenizers and safetensors never would; this says so to
# any library that reads it).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PACKAGE = "wordllama"
WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
TENSOR = "embedding.weight"
# Components kept of each vector. 64 lost too much ("beach holiday" nearer "office party"
# than "seaside vacation"); 128 keeps the order 256 gives, at half its memory: 1M entries x
# 128 float32 is 512 MB, mapped from the file (tools/bench_semantic.py).
DIM = 128
# A name's words: letters runs, camelCase humps (digits say nothing of meaning: dates and
# numbers are matched exactly by plain search, and dates taken by the date filters).
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[^\W\d_]+")
# An extension at the end of a name: its kind is a filter, not a meaning.
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
# What cameras and phones put before a picture's number: noise to the model.
CAMERA_PREFIXES = frozenset({"img", "dsc", "dscn", "dscf", "pxl", "vid", "mvimg", "gopr", "p"})


class StaticModel:
    """A token vector table and its tokenizer: ``embed`` is a lookup and a mean."""

    def __init__(self, table: np.ndarray, tokenizer: object) -> None:
        self.table = table
        self.tokenizer = tokenizer

    @classmethod
    def load(cls) -> "StaticModel":
        from safetensors import safe_open
        from tokenizers import Tokenizer

        root = _package_dir(PACKAGE)
        try:
            with safe_open(str(root / WEIGHTS), framework="np") as f:
                table = np.ascontiguousarray(f.get_tensor(TENSOR)[:, :DIM], dtype=np.float32)
            tokenizer = Tokenizer.from_file(str(root / TOKENIZER))
        except (OSError, ValueError, Exception) as e:  # safetensors raises its own types
            raise SemanticUnavailable(f"the model's files in {root} cannot be read: {e}") from e
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(table, tokenizer)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Each text's unit vector (float32, ``len(texts)`` x ``DIM``); an empty text's is 0."""
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        if not texts:
            return out
        encoded = self.tokenizer.encode_batch(texts, add_special_tokens=False)  # type: ignore[attr-defined]
        lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(texts))
        ids = np.fromiter(
            (i for e in encoded for i in e.ids), dtype=np.int64, count=int(lengths.sum())
        )
        if not len(ids):
            return out
        np.clip(ids, 0, len(self.table) - 1, out=ids)
        rows = self.table[ids]
        present = lengths > 0
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[present]
        out[present] = np.add.reduceat(rows, starts, axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


def _package_dir(name: str) -> Path:
    """Where an installed package's files are, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticUnavailable(f"the package {name} is not installed (pip install {name})")
    return Path(next(iter(spec.submodule_search_locations)))


_lock = threading.Lock()
_model: StaticModel | None = None


def model() -> StaticModel:
    """The process's one model, loaded on first use (about 0.1 s, 4 MB)."""
    global _model
    with _lock:
        if _model is None:
            _model = StaticModel.load()
        return _model


def embed(texts: list[str]) -> np.ndarray:
    """The unit vector of each text: float32, ``len(texts)`` x ``DIM``; the dot product of
    two is their similarity in meaning (1 the same, 0 unrelated). The public entry point
    for whatever needs "nearest by meaning" (search, agents' tag suggestions)."""
    return model().embed(texts)


def words(name: str) -> str:
    """A file or folder name as words: ``IMG_2041 seaside-vacation.JPG`` -> ``seaside
    vacation`` (separators and camelCase split, lower case, no extension, digits or
    camera prefix), what the model reads best."""
    found = (w.lower() for w in _WORDS.findall(_EXTENSION.sub("", name)))
    return " ".join(w for w in found if w not in CAMERA_PREFIXES)


def entry_text(name: str, folders: list[str]) -> str:
    """What an entry's vector is the meaning of: its name's words, then those of the
    folders it is in, nearest first (at most three: the rest of a path says little)."""
    parts = [words(name), *(words(f) for f in reversed(folders[-3:]))]
    return " ".join(p for p in parts if p)
