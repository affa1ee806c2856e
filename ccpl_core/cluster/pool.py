"""Tasks to workers: one worker in this process (``local``) or a pool of Ray actors (``ray``).

A worker is a plain class whose constructor loads what it needs once (a model, a style) and
whose method does one task; Ray runs the same class as an actor. An actor whose process dies
(a node lost, a killed worker, an out-of-memory kill) is restarted by Ray, which loads the
model again and retries the task it held, up to ``retries`` times; tasks are idempotent (their
outputs are written atomically and the same each time), so a retry never duplicates anything.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import CCPLError, InputError

ENGINES = ("local", "ray")
#: Tasks queued on each actor beyond the one it runs, so that it never waits for the driver.
AHEAD = 1

T = TypeVar("T")


class WorkerFailed(CCPLError):
    """A task whose worker died more often than the retries allow."""


@dataclass(frozen=True)
class Engine:
    """Where batch work runs.

    ``address``: a running Ray cluster (``auto``, ``ray://head:10001``); None starts one on this
    machine. ``workers``: actors (default: one per GPU of the cluster, else one per node with
    all of its CPUs); ``cpus_per_worker``: CPU threads each uses (default: the smallest node's
    CPUs over the actors per node; with ``local``, the threads of the one worker, default torch's).
    ``retries``: restarts of a dead worker, and retries of its
    task, before the task is reported failed.
    """

    name: str = "local"
    address: str | None = None
    workers: int | None = None
    cpus_per_worker: int | None = None
    retries: int = 3

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise InputError(f"`engine` {self.name}: choose one of {', '.join(ENGINES)}")
        for name in ("workers", "cpus_per_worker"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"`{name}` must be 1 or more, got {value}")
        if self.name == "local" and (self.address or self.workers):
            raise InputError("`address` and `workers` need `engine` ray")


def require_ray() -> Any:
    """The ``ray`` module, or one line saying how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise InputError(
            "`engine` ray needs Ray, which is not installed: pip install 'comfyui-ccpl[cluster]' "
            "(or pip install ray), or run with `engine` local"
        ) from exc
    return ray


def run_tasks(
    engine: Engine,
    worker: type,
    init: dict[str, Any],
    method: str,
    tasks: Sequence[T],
) -> Iterator[tuple[T, Any]]:
    """``(task, worker.method(task))`` for every task, as each finishes; a task whose worker
    died ``engine.retries`` times comes back with a :class:`WorkerFailed` as its result.

    ``init`` are the worker's constructor keywords; ``threads`` is added (CPU threads it may
    use). Locally the results come in order, from one worker in this process.
    """
    if not tasks:
        return
    if engine.name == "local":
        local = worker(**init, threads=engine.cpus_per_worker)
        for task in tasks:
            yield task, getattr(local, method)(task)
        return
    with connected(engine) as ray:
        yield from _on_actors(ray, engine, worker, init, method, tasks)


@contextmanager
def connected(engine: Engine) -> Iterator[Any]:
    """The ``ray`` module connected to the engine's cluster (started on this machine without an
    ``address``); left connected if it already was, else shut down (a local cluster with it)."""
    ray = require_ray()
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            address=engine.address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _plan(ray: Any, engine: Engine) -> tuple[int, int, int]:
    """Actors, CPUs and GPUs per actor for this cluster."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    gpus = int(sum(n.get("GPU", 0) for n in nodes))
    if gpus:
        workers = engine.workers or gpus
        return workers, engine.cpus_per_worker or 1, 1
    workers = engine.workers or max(1, len(nodes))
    per_node = -(-workers // max(1, len(nodes)))
    smallest = int(min((n.get("CPU", 1) for n in nodes), default=1))
    return workers, engine.cpus_per_worker or max(1, smallest // per_node), 0


def _on_actors(
    ray: Any, engine: Engine, worker: type, init: dict, method: str, tasks: Sequence[T]
) -> Iterator[tuple[T, Any]]:
    from ray.exceptions import RayActorError

    workers, cpus, gpus = _plan(ray, engine)
    remote = ray.remote(worker).options(
        num_cpus=cpus,
        num_gpus=gpus,
        max_restarts=engine.retries,
        max_task_retries=engine.retries,
    )
    actors = [remote.remote(**init, threads=cpus) for _ in range(min(workers, len(tasks)))]
    queue = deque(tasks)
    running: dict[Any, tuple[Any, T]] = {}

    def feed(actor: Any) -> None:
        if queue:
            task = queue.popleft()
            running[getattr(actor, method).remote(task)] = (actor, task)

    for actor in actors:
        for _ in range(1 + AHEAD):
            feed(actor)
    try:
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, task = running.pop(ref)
            try:
                result = ray.get(ref)
            except RayActorError as exc:  # out of restarts: this actor is gone for good
                actors = [a for a in actors if a is not actor]
                yield task, WorkerFailed(f"its worker died {engine.retries + 1} times ({exc})")
                if not actors:
                    while queue:
                        yield queue.popleft(), WorkerFailed("no worker is left to run it")
                continue
            yield task, result
            feed(actor)
    finally:  # stopped or done: the actors go, with any task they still run
        for actor in actors:
            ray.kill(actor, no_restart=True)
