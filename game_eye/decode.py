"""Screenshot bytes to an RGB PIL image, as fast as this machine allows.

    from game_eye.decode import decode_image
    img = decode_image(png_or_jpeg_bytes)        # RGB PIL image; raises on an unreadable image

A phone's screencap is an 8-bit RGB or RGBA PNG. With ``pyspng`` installed (the ``speed`` extra),
those are decoded by libspng, about twice as fast as Pillow's zlib path, with the same pixels (alpha
dropped, as ``Image.convert("RGB")`` drops it). Everything else (JPEG, palette or 16-bit PNGs,
images above Pillow's decompression-bomb limit, damaged files) goes through Pillow, whose errors
are the ones reported.
"""
from __future__ import annotations

import io
import struct

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SPNG_COLOR_TYPES = (2, 6)  # truecolour, truecolour with alpha

try:
    import pyspng
except ImportError:  # optional: Pillow decodes everything on its own
    pyspng = None


def _spng_can_take(data: bytes) -> bool:
    if pyspng is None or len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return False
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    limit = Image.MAX_IMAGE_PIXELS
    return depth == 8 and color_type in _SPNG_COLOR_TYPES and (limit is None or width * height <= limit)


def decode_image(data: bytes) -> Image.Image:
    """The RGB image in ``data``; Pillow's exception when it is not a readable image."""
    if _spng_can_take(data):
        try:
            return Image.fromarray(pyspng.load(data, format="RGB"))
        except Exception:  # damaged: let Pillow say what is wrong with it
            pass
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # force the full decode: truncated files fail here, not later
        return im if im.mode == "RGB" else im.convert("RGB")


def read_image(path) -> Image.Image:
    """``decode_image`` of a file's bytes."""
    with open(path, "rb") as fh:
        return decode_image(fh.read())
