"""A real ComfyUI server with this pack installed, for the integration and browser tests and for
tools/save_templates.py.

ComfyUI comes from $COMFYUI_DIR (scripts/comfyui.sh sets one up from the package registry) and
runs on $COMFYUI_PYTHON; VideoHelperSuite joins when $VHS_DIR names a checkout of it. Each server
gets its own base directory (custom_nodes, models, input, output, temp) so nothing of a user's or
an earlier run is seen.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK_FOLDER = "ComfyUI-CCPL"


def comfyui_dir() -> str | None:
    return os.environ.get("COMFYUI_DIR") or None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def post(url: str, payload: dict | None = None):
    data = json.dumps(payload or {}).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
            return json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"POST {url} -> {exc.code}: {exc.read().decode()[:2000]}") from exc


@dataclass
class Server:
    """A running ComfyUI: its URL, /object_info at start, base directory and log file."""

    proc: subprocess.Popen
    url: str
    base: Path
    log: Path
    info: dict = field(default_factory=dict)
    python: str = sys.executable

    def __getitem__(self, key: str):  # the tests' older dict access: server["url"]
        return getattr(self, key)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start(base: Path, install_requirements: bool = True, timeout: float = 300) -> Server:
    """Start ComfyUI on a free port with this pack (and VideoHelperSuite if $VHS_DIR is set)."""
    nodes = base / "custom_nodes"
    nodes.mkdir(parents=True, exist_ok=True)
    (nodes / PACK_FOLDER).symlink_to(ROOT, target_is_directory=True)
    if os.environ.get("VHS_DIR"):
        (nodes / "ComfyUI-VideoHelperSuite").symlink_to(os.environ["VHS_DIR"])
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    # as a Registry / Manager install does: each pack's requirements.txt into ComfyUI's venv
    if install_requirements:
        for pack in sorted(nodes.iterdir()):
            requirements = pack / "requirements.txt"
            if requirements.is_file():
                subprocess.run(
                    [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                     str(requirements)],
                    check=True,
                    timeout=1200,
                )  # fmt: skip
    port = free_port()
    log = base / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--disable-auto-launch", "--base-directory", str(base),
             "--database-url", "sqlite:///:memory:"],
            cwd=comfyui_dir(),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
    server = Server(proc, f"http://127.0.0.1:{port}", base, log, python=python)
    deadline = time.time() + timeout
    while True:
        try:
            server.info = get(f"{server.url}/object_info", timeout=5)
            return server
        except OSError as exc:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise AssertionError("ComfyUI did not start:\n" + log.read_text()[-3000:]) from exc
            time.sleep(1)


def queue(server: Server, prompt: dict) -> str:
    return post(f"{server.url}/prompt", {"prompt": prompt, "client_id": "ccpl-test"})["prompt_id"]


def wait(server: Server, prompt_id: str, timeout: float = 900) -> dict:
    """The history entry of a finished prompt (whatever its status)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        history = get(f"{server.url}/history/{prompt_id}")
        entry = history.get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            return entry
        time.sleep(0.5)
    raise AssertionError(
        f"prompt {prompt_id} did not finish in {timeout}s; log: " + server.log.read_text()[-2000:]
    )
