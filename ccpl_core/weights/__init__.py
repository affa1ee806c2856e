"""Model weights: safetensors files, the authors' layout, and (later) the Hub manifest."""

from .files import load_sctnet, read_state, save_sctnet, save_state, sha256_file
from .layout import from_authors, to_authors

__all__ = [
    "from_authors",
    "load_sctnet",
    "read_state",
    "save_sctnet",
    "save_state",
    "sha256_file",
    "to_authors",
]
