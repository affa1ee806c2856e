"""Batch stylisation of folder trees and image lists (``ccpl batch``), on one machine or Ray."""

from .manifest import Manifest
from .plan import FORMATS, ImageJob, draw_style, find_inputs, plan_jobs, style_folder
from .worker import BatchSettings, ImageWorker

__all__ = [
    "FORMATS",
    "BatchSettings",
    "ImageJob",
    "ImageWorker",
    "Manifest",
    "draw_style",
    "find_inputs",
    "plan_jobs",
    "style_folder",
]
