"""Stand-in for comfy.cli_args: the command-line flags the pack reads."""

from types import SimpleNamespace

args = SimpleNamespace(force_fp32=False, force_fp16=False, reserve_vram=None)
