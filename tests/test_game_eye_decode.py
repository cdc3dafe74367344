"""game_eye.decode: libspng (pyspng) decodes the phone's PNGs to exactly Pillow's pixels; everything
else, and every damaged or oversized file, goes through Pillow and its errors.

Run: pytest tests/test_game_eye_decode.py
"""
import io

import numpy as np
import pytest
from PIL import Image

from game_eye import decode
from game_eye.decode import decode_image


def _png(mode, size=(97, 61), seed=0, **save):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    img = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)
    buf = io.BytesIO()
    img.save(buf, format="PNG", **save)
    return buf.getvalue()


def _pillow(data):
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def test_pyspng_is_installed_with_the_speed_extra():
    assert decode.pyspng is not None  # setup installs it: without it every PNG takes Pillow's slower path


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("save", [{}, {"compress_level": 1}, {"optimize": True}])
def test_spng_gives_pillows_pixels(mode, save, monkeypatch):
    data = _png(mode, **save)
    assert decode._spng_can_take(data)
    calls = []
    real = decode.pyspng.load
    monkeypatch.setattr(decode.pyspng, "load", lambda *a, **k: calls.append(1) or real(*a, **k))
    img = decode_image(data)
    assert calls and img.mode == "RGB"
    assert np.array_equal(np.asarray(img), _pillow(data))  # RGBA: alpha dropped, as convert("RGB") does


@pytest.mark.parametrize("data", [_png("L"), Image.new("P", (9, 9)).tobytes()], ids=["grey", "raw"])
def test_other_images_take_pillows_path(data):
    assert not decode._spng_can_take(data)


def test_palette_png_and_jpeg_decode_through_pillow():
    for fmt, img in (("PNG", Image.new("P", (30, 20), 3)), ("JPEG", Image.new("RGB", (30, 20), (9, 80, 200)))):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out = decode_image(buf.getvalue())
        assert out.mode == "RGB" and out.size == (30, 20)


def test_a_truncated_png_is_pillows_error():
    data = _png("RGB", size=(300, 200))
    with pytest.raises(OSError, match="truncated|broken|image file"):
        decode_image(data[: len(data) // 2])


def test_pillows_decompression_bomb_limit_holds(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above twice this
    data = _png("RGB", size=(60, 40))
    assert not decode._spng_can_take(data)  # 2400 px: over the limit, so Pillow decides
    with pytest.raises(Image.DecompressionBombError):
        decode_image(data)
