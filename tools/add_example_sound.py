"""Give the example clip a sound track (a generated two-tone chime), so the video templates show
that frame rate and audio survive stylisation. Run once; the result is committed."""

from __future__ import annotations

import argparse
import heapq
from pathlib import Path

import av
import numpy as np

RATE = 44100


def chime(seconds: float) -> np.ndarray:
    """A quiet 440/660 Hz tone that fades in and out once a second (mono float32)."""
    t = np.arange(int(RATE * seconds)) / RATE
    envelope = np.sin(np.pi * (t % 1.0)) ** 2
    tone = np.where((t // 1.0) % 2 == 0, np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t))
    return (0.2 * envelope * tone).astype(np.float32)[None]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("clip", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args()
    with av.open(str(args.clip)) as src, av.open(str(args.out), "w") as out:
        video_in = src.streams.video[0]
        seconds = float(video_in.frames / video_in.average_rate)
        video_out = out.add_stream_from_template(video_in)
        audio_out = out.add_stream("aac", rate=RATE, layout="mono")
        samples = chime(seconds)
        packets = []
        for i in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[:, i : i + 1024], format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts = RATE, i
            packets += audio_out.encode(frame)
        packets += audio_out.encode(None)
        video = [pk for pk in src.demux(video_in) if pk.size]
        for pk in video:
            pk.stream = video_out

        def seconds_of(pk):
            return float((pk.dts if pk.dts is not None else pk.pts) * pk.time_base)

        for pk in heapq.merge(video, packets, key=seconds_of):
            out.mux(pk)


if __name__ == "__main__":
    main()
