"""Shared drawing code for the image-project generators (plain PIL + numpy), by what it draws:
``core`` (fonts, colours, mask primitives), ``buttons`` (close and ad buttons), ``text``, ``icons``
(other UI glyphs), ``backgrounds``, ``screens`` (composing one) and ``files`` (writing a project).

Not a project (the folder name starts with ``_``). Generators import it with::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import _drawing as D

Everything here is deterministic given the ``numpy.random.Generator`` passed in.
Shapes are drawn as masks on a 4x supersampled canvas and downsampled (anti-aliased
edges); layers are composited with the "over" operator in numpy, so the alpha of a
sprite is exact (semi-transparent fills stay semi-transparent).
"""
from .backgrounds import (  # noqa: F401
    BG_KINDS,
    background,
    bg_blobs,
    bg_gradient,
    bg_noise,
    bg_scene,
    bg_store,
    bg_video,
    draw_character,
)
from .buttons import (  # noqa: F401
    BUTTON_ICONS,
    close_at_width,
    close_spec,
    random_close_spec,
    render_button,
    render_close,
)
from .core import (  # noqa: F401
    BLACK,
    COLOURS,
    FONT_JA,
    FONT_LATIN,
    GREYS,
    SS,
    WHITE,
    alpha_bbox,
    blur_mask,
    crop_tight,
    dilate,
    draw_x,
    finish_mask,
    fit_long_side,
    font,
    lerp,
    new_mask,
    over,
    pick,
    polyline,
    rand_colour,
    shift,
    stroke,
    to_image,
)
from .files import add_screen, clean_dir, save_jpeg, save_sprites, write_coco  # noqa: F401
from .icons import GLYPHS, render_icon  # noqa: F401
from .screens import button, contrast, dim, overlaps, paste, paste_free, place_free, rounded_card  # noqa: F401
from .text import render_text, text_on, text_sprite_style  # noqa: F401
