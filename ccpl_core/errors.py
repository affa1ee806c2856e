"""Exceptions with messages meant for people: what was wrong, with which input, what to do."""

from __future__ import annotations


class CCPLError(Exception):
    """Base class of every error ccpl_core raises on purpose."""


class InputError(CCPLError, ValueError):
    """An image, mask, option or file given by the caller is unusable."""


class ModelError(CCPLError):
    """A model file is missing, corrupt, of the wrong mode or of the wrong layout."""


class OutOfMemory(CCPLError, MemoryError):
    """Stylisation did not fit in memory even with the smallest tile size."""
