"""Video: streaming I/O, coherent stylisation and temporal-consistency metrics."""

from .engine import STATISTICS, VideoOptions, stylize_video
from .io import FrameSink, FrameSource

__all__ = ["STATISTICS", "FrameSink", "FrameSource", "VideoOptions", "stylize_video"]
