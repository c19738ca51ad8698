"""Video files as frame sequences, through PyAV (the optional `video` extra): decode and re-encode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from dipbatch.errors import DipbatchError
from dipbatch.io.atomic import atomic_path

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
FALLBACK_CODECS = ("libx264", "mpeg4")


@dataclass(frozen=True)
class VideoInfo:
    """What re-encoding needs to know of the source video."""

    codec: str
    rate: Fraction
    pix_fmt: str


def is_video(path: str | Path) -> bool:
    return str(path).lower().endswith(VIDEO_SUFFIXES)


def frame_name(index: int) -> str:
    """The file name of frame `index` (from 0) of a decoded video: frame_000001.png, ..."""
    return f"frame_{index + 1:06d}.png"


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise DipbatchError("video", "reading and writing video needs PyAV: "
                                     "pip install 'dipbatch[video]'") from None
    return av


def _short(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 120 else text[:117] + "..."


def read_video(path: str | Path) -> tuple[list[np.ndarray], VideoInfo]:
    """Every frame of the first video stream as 3×H×W float32 RGB in [0,1], and how it was coded.

    A file that cannot be decoded to its end fails as a whole: frames are never dropped.
    """
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise DipbatchError(path, "no such video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DipbatchError(path, "holds no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            info = VideoInfo(stream.codec_context.name, Fraction(rate), stream.codec_context.pix_fmt or "")
            frames = [np.moveaxis(f.to_ndarray(format="rgb24"), -1, 0).astype(np.float32) / 255.0
                      for f in container.decode(stream)]
    except DipbatchError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise DipbatchError(path, f"cannot decode the video ({_short(exc)})") from None
    if not frames:
        raise DipbatchError(path, "cannot decode the video (no frames)")
    return frames, info


def _encoder(av: Any, info: VideoInfo) -> tuple[str, str]:
    """The source's codec and pixel format when this PyAV can encode them, else a common fallback."""
    for name in (info.codec, *FALLBACK_CODECS):
        try:
            codec = av.codec.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        formats = [f.name for f in codec.video_formats or ()]
        pix_fmt = info.pix_fmt if info.pix_fmt in formats else ("yuv420p" if "yuv420p" in formats
                                                                else formats[0])
        return codec.name, pix_fmt
    raise DipbatchError("video", "this PyAV build has no video encoder for "
                                 + ", ".join((info.codec, *FALLBACK_CODECS)))


def write_video(path: str | Path, frames: Sequence[np.ndarray], info: VideoInfo) -> None:
    """Encode C×H×W frames in [0,1] (gray or RGB) at the source's rate, atomically."""
    av = _av()
    codec, pix_fmt = _encoder(av, info)
    height, width = np.asarray(frames[0]).shape[-2:]
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=_container_format(Path(path))) as out:
        stream = out.add_stream(codec, rate=info.rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "16"}
        for frame in frames:
            rgb = np.asarray(frame, np.float32)
            rgb = np.repeat(rgb, 3, axis=0) if rgb.shape[0] == 1 else rgb[:3]
            pixels = np.round(np.clip(np.nan_to_num(np.moveaxis(rgb, 0, -1)), 0, 1) * 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")))
        out.mux(stream.encode())


def _container_format(path: Path) -> str | None:
    """The muxer for the final name (the temporary file's suffix is not the final one)."""
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi",
            ".webm": "webm"}.get(path.suffix.lower())


def extract(video: Path, out: Path) -> int:
    """Decode VIDEO into OUT as frame_000001.png, ...; OUT appears whole or not at all."""
    from dipbatch.io.images import Source, write_image
    from dipbatch.temporal.folder import staged_folder

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DipbatchError(out, "exists already; frames go into a new folder")
    if not out.parent.is_dir():
        raise DipbatchError(out.parent, "output folder does not exist")
    frames, _ = read_video(video)
    height, width = frames[0].shape[-2:]
    source = Source(path=str(video), format="png", dtype="uint8", value_range=(0.0, 255.0), layout="rgb",
                    height=height, width=width)
    with staged_folder(out) as stage:
        for index, frame in enumerate(frames):
            write_image(stage / frame_name(index), frame, source)
    return len(frames)
