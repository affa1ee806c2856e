"""Plot a training run's losses (log.jsonl) to a PNG, e.g. docs/training_loss.png.

python tools/plot_training.py RUN/log.jsonl -o docs/training_loss.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ccpl_core.cli import run_reporting
from ccpl_core.images import save_image
from ccpl_core.training.plot import loss_curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("logs", nargs="+", help="log.jsonl files, in order")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    records: dict[int, dict] = {}
    for log in args.logs:
        for line in Path(log).read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                records[rec["iteration"]] = rec  # a resumed run overrides repeated iterations
    history = [records[k] for k in sorted(records)]
    print(save_image(loss_curve(history, 800, 400), args.output, overwrite=True))


if __name__ == "__main__":
    raise SystemExit(run_reporting(main))
