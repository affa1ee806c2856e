"""tqdm progress bars for the pipeline's and the video engines' (done, total) callbacks."""

from __future__ import annotations

import sys

from tqdm import tqdm


class StepBar:
    """A progress callback that draws a tqdm bar once work has more than one step."""

    def __init__(self, desc: str, enabled: bool = True) -> None:
        self.desc = desc
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 1:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.desc, unit="tile", leave=False)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class FrameBar:
    """A (done, total) callback drawing a bar of frames done; closed when its ``with`` ends."""

    def __init__(self, desc: str, total: int | None = None) -> None:
        self.bar = tqdm(total=total, unit="frame", desc=desc, disable=None)

    def __call__(self, done: int, total: int | None) -> None:
        if total is not None:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> FrameBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
