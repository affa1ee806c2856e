"""Running batch work on Ray: a pool of actors that each hold one model, with retries.

Ray is an optional extra (``pip install 'comfyui-ccpl[cluster]'``); nothing here imports it
until a command asks for ``--engine ray``. The same worker classes run in-process for
``--engine local``, so both engines share every line that reads, stylises and writes.
"""

from .pool import ENGINES, Engine, WorkerFailed, connected, require_ray, run_tasks

__all__ = ["ENGINES", "Engine", "WorkerFailed", "connected", "require_ray", "run_tasks"]
