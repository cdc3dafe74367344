"""Shared code for the icon-set generators (close_icons, neg_icons, eval_designs).

Not a project (the file name starts with ``_``). It reads real icon designs that ``make assets``
installs (nothing rendered from them is committed):

* Iconify JSON sets, pinned in ``_icon_sources/package.json`` / ``package-lock.json`` and installed
  with ``npm ci`` into ``_icon_sources/node_modules/@iconify-json/<prefix>/icons.json``;
  rendered with resvg (``resvg_py``) as an alpha mask (monochrome sets) or RGBA (palette sets);
* Debian icon fonts (Font Awesome 4, Fork Awesome, Material Icons, Elusive, Glyphicons) with
  their glyph names from the package's CSS, and Unicode symbol fonts (DejaVu, Noto Sans
  Symbols, Symbola, Noto Color Emoji) for a curated list of code points.

Every source is listed once in ``_icon_sources/sources.yaml`` with its role (``train``: may feed
close_icons / neg_icons; ``heldout``: eval_designs only) and licence.

It also holds the conservative glyph-name classifier (:func:`is_close`, :func:`is_negative`) and
the styled-button renderer (:func:`random_style`, :func:`render_button`) that positives and
negatives share, so that a style never tells the label. Generators import it with::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import _icons as I

Everything is deterministic: names and files are iterated in sorted order, and every random
choice takes the ``numpy.random.Generator`` passed in.
"""
from __future__ import annotations

import fnmatch
import io
import json
import math
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

import _drawing as D

HERE = Path(__file__).resolve().parent
SOURCES_DIR = HERE / "_icon_sources"
TABLE = SOURCES_DIR / "sources.yaml"
NODE_MODULES = SOURCES_DIR / "node_modules"
ICONIFY_DIR = NODE_MODULES / "@iconify-json"

# Reserved for an outside evaluation: never installed, never read (see tests/test_icon_sources.py).
RESERVED_NPM = ("lucide-static", "bootstrap-icons", "@tabler/icons", "heroicons", "ionicons", "lucide")
RESERVED_ICONIFY = ("lucide", "lucide-lab", "bi", "tabler", "heroicons", "heroicons-outline",
                    "heroicons-solid", "ion", "famicons")
HELDOUT_ONLY_ICONIFY = ("feather", "fe")  # Feather is Lucide's parent: eval_designs only
PERMISSIVE = ("MIT", "Apache-2.0", "ISC", "OFL-1.1", "CC-BY-3.0", "CC-BY-4.0", "CC0-1.0", "Unlicense",
              "Bitstream-Vera", "Symbola-free-use")

RENDER_PX = 192          # long side of the cached high-resolution glyph (downscaled for each sprite)


class MissingAssets(RuntimeError):
    """The icon sources are not installed: run ``make assets``."""


# ------------------------------------------------------------------------------- source table

@dataclass
class Source:
    id: str                      # iconify prefix, or a font source id
    kind: str                    # iconify | font | unicode
    role: str                    # train | heldout
    licence: str
    package: str = ""            # npm or Debian package it comes from
    file: str = ""               # font file (font / unicode)
    css: str = ""                # font: CSS giving class names -> code points
    css_prefix: str = ""         # font: class prefix stripped from names (fa-, el-, ...)
    colour: bool = False         # multicolour glyphs (emoji, palette sets): RGBA, not recoloured
    close_tokens: list = field(default_factory=list)    # extra core phrases ("cancel", "highlight-off")
    close_names: list = field(default_factory=list)     # explicit close glyph names
    not_close: list = field(default_factory=list)       # names the rule would accept that are not an X
    note: str = ""


def load_table(path: Path = TABLE) -> list[Source]:
    raw = yaml.safe_load(Path(path).read_text())
    out = []
    for kind in ("iconify", "font", "unicode"):
        for sid, spec in sorted((raw.get(kind) or {}).items()):
            spec = dict(spec or {})
            if kind == "unicode":   # its close glyphs are the listed code points, by Unicode name
                spec["close_names"] = [unicode_name(int(c)) for c in raw["unicode_close"]]
            out.append(Source(id=sid, kind=kind, **spec))
    return out


def sources(role: str | None = None, path: Path = TABLE) -> list[Source]:
    return [s for s in load_table(path) if role is None or s.role == role]


@lru_cache(maxsize=None)
def unicode_lists(path: Path = TABLE) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(close code points, negative code points) the unicode sources draw from."""
    raw = yaml.safe_load(Path(path).read_text())
    return tuple(int(c) for c in raw["unicode_close"]), tuple(int(c) for c in raw["unicode_negative"])


def check_installed() -> None:
    if not ICONIFY_DIR.is_dir():
        raise MissingAssets(f"{ICONIFY_DIR} is missing: the icon sets are installed by `make assets` "
                            f"(npm ci in {SOURCES_DIR})")


# ------------------------------------------------------------------------------ names and tokens

def tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[-_ .]+", name.lower()) if t]


CORE = [("close",), ("x",), ("xmark",), ("times",), ("multiply",), ("multiplication",), ("dismiss",),
        ("window", "close"), ("saltire",)]
MODIFIERS = {
    "circle", "circled", "box", "square", "squared", "octagon", "hexagon", "diamond", "ring", "round",
    "rounded", "outline", "outlined", "fill", "filled", "solid", "regular", "bold", "thin", "light",
    "duotone", "twotone", "line", "linear", "stroke", "sharp", "baseline", "small", "large", "big",
    "lg", "sm", "md", "xs", "xl", "mini", "micro", "tiny", "medium", "thick", "heavy", "alt", "o",
    "r", "f", "sign", "mark", "button", "icon", "symbol", "simple", "plain", "one", "single",
    "compact", "broken", "remix", "glyph",
}
# a glyph whose name has any of these (or a token starting with "x") is never a negative
NOT_NEGATIVE = {
    "close", "closed", "cancel", "cancelled", "times", "multiply", "multiplication", "remove", "delete",
    "clear", "dismiss", "cross", "crossed", "crossbones", "ban", "block", "blocked", "slash", "slashed",
    "error", "off", "no", "not", "none", "prohibit", "prohibited", "forbid", "forbidden", "disabled",
    "disable", "disturb", "unavailable", "invalid", "wrong", "incorrect", "fail", "failed", "failure",
    "reject", "rejected", "deny", "denied", "decline", "abort", "kill", "terminate", "exit", "quit",
    "escape", "esc", "mute", "muted", "unmute", "erase", "eraser", "backspace", "asterisk", "swords",
    "sword", "scissors", "cut", "shuffle", "random", "expand", "maximize", "fullscreen", "minimize",
    "collapse", "resize", "diagonal", "arrows", "math", "operation", "operations", "saltire", "misuse",
    "kiss", "bones", "skull", "cancellation", "ballot", "vote", "tools", "hammer", "wrench", "screwdriver",
    "pick", "axe", "crossing", "intersect", "intersection", "chromosome", "bow", "bowtie", "hourglass",
    "trash", "bin", "unlink", "disconnect", "spark", "sparkle", "sparkles", "logo",
    "twitter", "letter", "alpha", "alphabet", "mistake", "debug", "bug", "ray", "chrome", "excel",
    "superscript", "subscript", "cutlery", "utensils", "silverware", "dining", "restaurant", "knife",
    "connect", "satellite", "drone", "football", "tactics", "strategy", "stop", "crosshair", "crosshairs",
    "canceled", "function", "formula", "fx", "treasure",
}


def _strip_phrase(toks: list[str], phrase: tuple) -> list[str] | None:
    n = len(phrase)
    for i in range(len(toks) - n + 1):
        if tuple(toks[i:i + n]) == phrase:
            return toks[:i] + toks[i + n:]
    return None


@lru_cache(maxsize=None)
def _cores(extra: tuple) -> tuple:
    cores = sorted(set(CORE) | {tuple(tokens(t)) for t in extra}, key=lambda c: (-len(c), c))
    singles = frozenset(c[0] for c in cores if len(c) == 1)
    firsts = frozenset(t for c in cores for t in c)
    return tuple(cores), singles, firsts


def is_close(name: str, source: Source | None = None) -> bool:
    """A glyph name that means "close button": a core phrase (close, x, xmark, times, multiply,
    dismiss, window-close, + the source's own, e.g. Material's cancel / highlight-off) and
    otherwise only shape / style / size words and digits. A ``close_names`` pattern of the source
    counts; a ``not_close`` pattern never does."""
    if source is not None:
        if any(fnmatch.fnmatchcase(name, pat) for pat in source.not_close):
            return False
        if any(fnmatch.fnmatchcase(name, pat) for pat in source.close_names):
            return True
    toks = tokens(name)
    cores, singles, firsts = _cores(tuple(source.close_tokens) if source else ())
    if not any(t in firsts for t in toks):
        return False
    for phrase in cores:
        rest = _strip_phrase(toks, phrase)
        if rest is not None and all(t in MODIFIERS or t.isdigit() or t in singles for t in rest):
            return True
    return False


def is_negative(name: str) -> bool:
    """A glyph name that is safely NOT a close button: no token that is close-like or ambiguous
    (x, close, cancel, remove, delete, clear, cross, ban, slash, off, error, ... any token starting
    with x), generous on purpose."""
    toks = tokens(name)
    return bool(toks) and not any(t.startswith("x") or t in NOT_NEGATIVE for t in toks)


# must-have hard negatives: concept -> (any of these tokens, and all of these tokens)
HARD_NEGATIVES = {
    "plus": ({"plus", "add"}, set()), "plus_circle": ({"plus", "add"}, {"circle"}),
    "plus_square": ({"plus", "add"}, {"square"}), "info": ({"info", "information"}, set()),
    "question": ({"question", "help"}, set()), "check": ({"check", "checkmark", "tick", "done"}, set()),
    "play": ({"play"}, set()), "pause": ({"pause"}, set()), "arrow": ({"arrow"}, set()),
    "chevron": ({"chevron", "caret", "angle"}, set()), "star": ({"star"}, set()), "heart": ({"heart"}, set()),
    "menu": ({"menu", "hamburger", "bars"}, set()), "settings": ({"settings", "gear", "cog", "cogs"}, set()),
    "search": ({"search", "magnify", "magnifier", "magnifying", "zoom"}, set()),
    "share": ({"share"}, set()), "refresh": ({"refresh", "reload", "sync", "redo", "undo", "replay"}, set()),
    "volume": ({"volume", "speaker", "sound", "audio"}, set()), "minus": ({"minus", "subtract"}, set()),
    "home": ({"home", "house"}, set()), "user": ({"user", "person", "account", "profile"}, set()),
    "bell": ({"bell", "notification", "alarm"}, set()), "lock": ({"lock", "locked", "padlock"}, set()),
    "gift": ({"gift", "present"}, set()), "coin": ({"coin", "coins", "money", "dollar", "cash"}, set()),
    "cart": ({"cart", "basket", "trolley", "bag"}, set()), "download": ({"download"}, set()),
}


def concept_of(name: str) -> str | None:
    toks = set(tokens(name))
    for c in ("plus_circle", "plus_square"):
        anyof, allof = HARD_NEGATIVES[c]
        if toks & anyof and allof <= toks:
            return c
    for c, (anyof, allof) in HARD_NEGATIVES.items():
        if toks & anyof and allof <= toks:
            return c
    return None


# -------------------------------------------------------------------------------- iconify sets

@dataclass(frozen=True)
class Glyph:
    source: str
    name: str                    # the name that classified it (close or negative)
    names: tuple                 # every name of this glyph (aliases)
    colour: bool


@lru_cache(maxsize=None)
def iconify_set(prefix: str) -> dict:
    """{name: (body, left, top, width, height, rotate, hflip, vflip)} with aliases resolved (hidden
    icons skipped), plus the set's info (``palette``, licence)."""
    if prefix in RESERVED_ICONIFY:
        raise ValueError(f"icon set {prefix!r} is reserved for an outside evaluation")
    check_installed()
    d = ICONIFY_DIR / prefix
    if not (d / "icons.json").is_file():
        raise MissingAssets(f"{d}/icons.json is missing: run `make assets` (npm ci in {SOURCES_DIR})")
    j = json.loads((d / "icons.json").read_text())
    info = json.loads((d / "info.json").read_text())
    dflt = dict(left=j.get("left", 0), top=j.get("top", 0), width=j.get("width", 16), height=j.get("height", 16))
    icons = {}
    raw_icons = j["icons"]
    for name in sorted(raw_icons):
        v = raw_icons[name]
        if v.get("hidden"):
            continue
        icons[name] = (v["body"], v.get("left", dflt["left"]), v.get("top", dflt["top"]),
                       v.get("width", dflt["width"]), v.get("height", dflt["height"]),
                       v.get("rotate", 0) % 4, bool(v.get("hFlip")), bool(v.get("vFlip")))
    aliases = j.get("aliases", {}) or {}

    def resolve(name, depth=0):
        if name in icons:
            return icons[name]
        if name in raw_icons or name not in aliases or depth > 8:
            return None
        a = aliases[name]
        if a.get("hidden"):
            return None
        p = resolve(a["parent"], depth + 1)
        if p is None:
            return None
        body, left, top, w, h, rot, hf, vf = p
        return (body, a.get("left", left), a.get("top", top), a.get("width", w), a.get("height", h),
                (rot + a.get("rotate", 0)) % 4, hf ^ bool(a.get("hFlip")), vf ^ bool(a.get("vFlip")))

    out = {}
    for name in sorted(set(icons) | set(aliases)):
        r = resolve(name)
        if r is not None:
            out[name] = r
    return {"icons": out, "palette": bool(info.get("palette")),
            "licence": (info.get("license") or {}).get("spdx", "?"), "total": info.get("total")}


def _svg(entry, px_w: int, px_h: int, box=None, colour: bool = False) -> str:
    """An SVG document for an Iconify entry (Iconify's iconToSVG transformations), optionally
    with the viewBox narrowed to ``box`` = (x0, y0, x1, y1) in icon units."""
    body, left, top, w, h, rot, hf, vf = entry
    tr = []
    if hf:
        if vf:
            rot += 2
        else:
            tr.append(f"translate({w + left} {-top})")
            tr.append("scale(-1 1)")
            top = left = 0
    elif vf:
        tr.append(f"translate({-left} {h + top})")
        tr.append("scale(1 -1)")
        top = left = 0
    rot %= 4
    if rot == 1:
        t = h / 2 + top
        tr.insert(0, f"rotate(90 {t} {t})")
    elif rot == 2:
        tr.insert(0, f"rotate(180 {w / 2 + left} {h / 2 + top})")
    elif rot == 3:
        t = w / 2 + left
        tr.insert(0, f"rotate(-90 {t} {t})")
    if rot % 2 == 1:
        if left != top:
            left, top = top, left
        w, h = h, w
    if tr:
        body = f'<g transform="{" ".join(tr)}">{body}</g>'
    if not colour:
        body = body.replace("currentColor", "#000")
    vb = (left, top, w, h) if box is None else (box[0], box[1], box[2] - box[0], box[3] - box[1])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{vb[0]} {vb[1]} {vb[2]} {vb[3]}" width="{px_w}" height="{px_h}">{body}</svg>')


def _resvg(svg: str, w: int, h: int) -> Image.Image:
    import resvg_py

    png = resvg_py.svg_to_bytes(svg_string=svg, width=int(w), height=int(h), skip_system_fonts=True)
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")


def _tight(img: Image.Image, thresh: int = 8):
    a = np.asarray(img.getchannel("A"))
    ys, xs = np.nonzero(a > thresh)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def render_iconify(prefix: str, name: str, px: int = RENDER_PX) -> Image.Image | None:
    """The glyph as RGBA, cropped to its ink, longest side ``px``; None when it renders blank."""
    s = iconify_set(prefix)
    entry = s["icons"][name]
    colour = s["palette"]
    body, left, top, w, h = entry[:5]
    if "<animate" in body or "<set " in body:     # animated (line-md style): its first frame may be empty
        return None
    if entry[5] % 2 == 1:
        w, h = h, w
    try:
        probe_px = 64
        k = probe_px / max(w, h)
        probe = _resvg(_svg(entry, round(w * k), round(h * k), colour=colour), round(w * k), round(h * k))
    except (ValueError, OSError):
        return None
    bb = _tight(probe, 2)
    if bb is None:
        return None
    # ink box in icon units, one probe pixel of margin each side (resvg's anti-aliasing)
    L, T = (left, top) if entry[5] % 2 == 0 else (top, left)
    x0, y0 = L + (bb[0] - 1) / k, T + (bb[1] - 1) / k
    x1, y1 = L + (bb[2] + 1) / k, T + (bb[3] + 1) / k
    bw, bh = x1 - x0, y1 - y0
    s_px = px / max(bw, bh)
    ow, oh = max(1, round(bw * s_px)), max(1, round(bh * s_px))
    try:
        img = _resvg(_svg(entry, ow, oh, box=(x0, y0, x1, y1), colour=colour), ow, oh)
    except (ValueError, OSError):
        return None
    bb = _tight(img, 8)
    if bb is None:
        return None
    return img.crop(bb)


# ----------------------------------------------------------------------------------- icon fonts

_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_CSS_CONTENT = re.compile(r"content:\s*[\"']\\([0-9a-fA-F]+)[\"']")
_CSS_CLASS = re.compile(r"\.([A-Za-z0-9_-]+):{1,2}before")


@lru_cache(maxsize=None)
def font_glyph_names(css: str, prefix: str) -> dict:
    """{code point: sorted names} from an icon font's CSS (``.fa-close:before { content: "\\f00d" }``)."""
    out: dict[int, set] = {}
    for sel, body in _CSS_RULE.findall(Path(css).read_text(errors="replace")):
        m = _CSS_CONTENT.search(body)
        if not m:
            continue
        cp = int(m.group(1), 16)
        for cls in _CSS_CLASS.findall(sel):
            if prefix and not cls.startswith(prefix):
                continue
            nm = cls[len(prefix):] if prefix else cls
            nm = nm.lstrip("_")
            if nm:
                out.setdefault(cp, set()).add(nm)
    return {cp: tuple(sorted(v)) for cp, v in sorted(out.items())}


@lru_cache(maxsize=None)
def font_cmap(path: str) -> frozenset:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as f:
        return frozenset(f.getBestCmap() or {})


def unicode_name(cp: int) -> str:
    return "-".join(tokens(unicodedata.name(chr(cp), f"u{cp:04x}")))


def _is_colour_font(path: str) -> bool:
    return "ColorEmoji" in path or "Emoji" in Path(path).name and "Color" in path


def render_font_glyph(path: str, cp: int, px: int = RENDER_PX) -> Image.Image | None:
    """One code point of a font as RGBA cropped to its ink (colour emoji fonts at their native
    bitmap size, then resized), longest side ``px``; None when the font lacks it or it is blank."""
    if cp not in font_cmap(path):
        return None
    ch = chr(cp)
    colour = _is_colour_font(path)
    size = 109 if colour else 256
    f = D.font(path, size)
    try:
        l, t, r, b = f.getbbox(ch)
    except OSError:
        return None
    if r <= l or b <= t:
        return None
    pad = 8
    img = Image.new("RGBA", (r - l + 2 * pad, b - t + 2 * pad), (0, 0, 0, 0))
    ImageDraw.Draw(img).text((pad - l, pad - t), ch, font=f, fill=(0, 0, 0, 255), embedded_color=colour)
    bb = _tight(img, 8)
    if bb is None:
        return None
    img = img.crop(bb)
    k = px / max(img.size)
    return img.resize((max(1, round(img.width * k)), max(1, round(img.height * k))), Image.LANCZOS)


# ------------------------------------------------------------------------------ glyph catalogue

def glyph_names(src: Source) -> dict:
    """{glyph key: names} of a source. Iconify: one key per distinct drawing (aliases grouped);
    fonts: one key per code point (its CSS class names); unicode: the listed code points."""
    if src.kind == "iconify":
        s = iconify_set(src.id)
        groups: dict = {}
        for name, entry in s["icons"].items():
            groups.setdefault(entry, []).append(name)
        out = {}
        for entry, names in groups.items():
            names = sorted(names)
            out[names[0]] = tuple(names)
        return dict(sorted(out.items()))
    if src.kind == "font":
        names = font_glyph_names(src.css, src.css_prefix)
        cmap = font_cmap(src.file)
        return {f"{cp:05x}": v for cp, v in names.items() if cp in cmap}
    close, neg = unicode_lists()
    cmap = font_cmap(src.file)
    return {f"{cp:05x}": (unicode_name(cp),) for cp in sorted(set(close) | set(neg)) if cp in cmap}


def render_glyph(src: Source, key: str, px: int = RENDER_PX) -> Image.Image | None:
    if src.kind == "iconify":
        return render_iconify(src.id, key, px)
    return render_font_glyph(src.file, int(key, 16), px)


def is_colour(src: Source) -> bool:
    if src.kind == "iconify":
        return iconify_set(src.id)["palette"] or src.colour
    return src.colour or _is_colour_font(src.file)


def close_glyphs(src: Source) -> list[Glyph]:
    """The source's close glyphs (a glyph counts when any of its names passes :func:`is_close`)."""
    out = []
    unicode_close = set(unicode_lists()[0]) if src.kind == "unicode" else set()
    for key, names in glyph_names(src).items():
        if src.kind == "unicode" and int(key, 16) not in unicode_close:
            continue
        if any(fnmatch.fnmatchcase(n, pat) for n in names for pat in src.not_close):
            continue
        hit = [n for n in names if is_close(n, src)]
        if hit:
            out.append(Glyph(src.id, key, tuple([hit[0]] + [n for n in names if n != hit[0]]), is_colour(src)))
    return out


def negative_glyphs(src: Source) -> list[Glyph]:
    """The source's glyphs that are safely not close buttons (every name passes :func:`is_negative`)."""
    out = []
    unicode_neg = set(unicode_lists()[1]) if src.kind == "unicode" else set()
    for key, names in glyph_names(src).items():
        if src.kind == "unicode" and int(key, 16) not in unicode_neg:
            continue
        if any(is_close(n, src) for n in names):
            continue
        if all(is_negative(n) for n in names):
            out.append(Glyph(src.id, key, tuple(names), is_colour(src)))
    return out


def glyph_label(g: Glyph) -> str:
    """The name a manifest records: the classifying name (fonts: the CSS / Unicode name)."""
    return g.names[0]


def source_rng(seed: int, src: Source) -> np.random.Generator:
    """A generator per (seed, source): adding or dropping a source leaves the others' draws alone."""
    return np.random.default_rng([int(seed), zlib.crc32(src.id.encode())])


def pick_close(src: Source, rng, cap: int) -> list[Glyph]:
    """Up to ``cap`` of the source's close glyphs (all when fewer), in name order."""
    gl = close_glyphs(src)
    if len(gl) > cap:
        idx = sorted(rng.choice(len(gl), cap, replace=False).tolist())
        gl = [gl[i] for i in idx]
    return gl


def pick_negatives(src: Source, rng, n_random: int = 8, cap: int = 44,
                   extra_hard: tuple = ("plus", "plus_circle", "plus_square", "info", "check", "play", "chevron",
                                        "question")):
    """Negative glyphs of the source as [(glyph, concept or None)]: the must-have hard negatives
    (per concept the shortest name, and a second variant for the ``extra_hard`` ones), then
    ``n_random`` (or more, up to ``cap`` in all) random others."""
    negs = negative_glyphs(src)
    by_concept: dict = {}
    for g in negs:
        c = next((concept_of(n) for n in g.names if concept_of(n)), None)
        if c:
            by_concept.setdefault(c, []).append(g)
    chosen, seen = [], set()
    for c in HARD_NEGATIVES:
        gl = sorted(by_concept.get(c, []), key=lambda g: (len(g.names[0]), g.names[0]))
        if not gl:
            continue
        picks = [gl[0]]
        if c in extra_hard and len(gl) > 1:
            picks.append(gl[1 + int(rng.integers(len(gl) - 1))])
        for g in picks:
            if g.name not in seen:
                chosen.append((g, c))
                seen.add(g.name)
    rest = [g for g in negs if g.name not in seen]
    n = min(len(rest), max(n_random, cap - len(chosen)))
    if n > 0:
        for i in sorted(rng.choice(len(rest), n, replace=False).tolist()):
            chosen.append((rest[i], None))
    return chosen


# ------------------------------------------------------------------------------- styled buttons

PLATES = ["none"] * 7 + ["circle"] * 6 + ["rsquare"] * 4 + ["square"] * 2 + ["pill"] * 1
# Training draws plated buttons more often than eval_designs (PLATES): with PLATES, every pair missed
# more unseen buttons on rounded squares (0.78-0.83), squares and pills (0.64-0.86) than bare ones
# (0.97-1.00). Positives and negatives share this table, so a plate still never tells the label.
TRAIN_PLATES = ["none"] * 5 + ["circle"] * 5 + ["rsquare"] * 5 + ["square"] * 3 + ["pill"] * 2
PALETTE = [D.WHITE] * 3 + [D.BLACK] * 2 + D.GREYS + D.COLOURS


def _lum(c) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _contrasting(rng, bg):
    if _lum(bg) > 150:
        return D.pick(rng, [D.BLACK, D.GREYS[0], D.GREYS[1]] + D.COLOURS[:3] + [D.COLOURS[9]])
    return D.pick(rng, [D.WHITE, D.WHITE, D.GREYS[4], D.GREYS[3]] + ([D.BLACK] if _lum(bg) > 110 else []))


def random_style(rng, plates=PLATES) -> dict:
    """A random button style (the same distribution for every label): plate drawn from ``plates``
    (none / circle / rounded square / square / pill), solid or see-through fill or ring only, glyph
    colour, knock-out, outline / drop shadow / glow, glyph scale inside the plate 0.4-0.8."""
    plate = D.pick(rng, plates)
    st = dict(plate=plate, radius=float(rng.uniform(0.12, 0.35)), pill=float(rng.uniform(1.3, 1.7)),
              fill=None, fill_alpha=1.0, ring=None, ring_w=float(rng.uniform(0.04, 0.11)), knockout=False,
              glyph=D.pick(rng, PALETTE), glyph_alpha=1.0 if rng.random() < 0.85 else float(rng.uniform(0.65, 0.95)),
              scale=float(rng.uniform(0.4, 0.8)), effect=None, plate_shadow=False,
              outline_colour=None, outline_w=float(rng.uniform(0.025, 0.06)),
              shadow=dict(alpha=float(rng.uniform(0.35, 0.85)), blur=float(rng.uniform(0.03, 0.09)),
                          dx=float(rng.uniform(-0.015, 0.025)), dy=float(rng.uniform(0.01, 0.05))),
              glow=dict(colour=D.pick(rng, [D.BLACK, D.WHITE]), alpha=float(rng.uniform(0.2, 0.5)),
                        blur=float(rng.uniform(0.04, 0.08))))
    if plate != "none":
        mode = D.pick(rng, ["solid"] * 11 + ["see_through"] * 5 + ["ring"] * 4)
        if mode != "ring":
            st["fill"] = D.pick(rng, PALETTE)
            if mode == "see_through":
                st["fill"] = D.pick(rng, [D.BLACK, D.BLACK, D.GREYS[0], D.WHITE] + D.COLOURS)
                st["fill_alpha"] = float(rng.uniform(0.25, 0.85))
            if rng.random() < 0.25:
                st["ring"] = D.pick(rng, PALETTE)
            st["glyph"] = _contrasting(rng, st["fill"]) if st["fill_alpha"] > 0.5 or rng.random() < 0.7 \
                else D.pick(rng, [D.WHITE, D.BLACK])
            st["knockout"] = bool(mode == "solid" and rng.random() < 0.12)
            st["plate_shadow"] = bool(rng.random() < 0.25)
        else:
            st["ring"] = D.pick(rng, PALETTE)
            st["glyph"] = st["ring"] if rng.random() < 0.7 else D.pick(rng, PALETTE)
        st["effect"] = D.pick(rng, [None] * 7 + ["outline", "shadow", "glow"])
    else:
        st["effect"] = D.pick(rng, [None] * 4 + ["outline"] * 3 + ["shadow"] * 2 + ["glow"])
    if st["effect"] == "outline":
        st["outline_colour"] = D.BLACK if _lum(st["glyph"]) > 128 else D.pick(rng, [D.WHITE, D.GREYS[4]])
    return st


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grey dilation by ``px`` pixels (a disc-like octagon), in numpy: px steps of 3x3 maxima."""
    out = mask.copy()
    for k in range(int(px)):
        p = np.pad(out, 1)
        if k % 2 == 0:   # alternate square and cross steps: an octagon, close to a disc
            out = np.maximum.reduce([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:],
                                     p[:-2, :-2], p[:-2, 2:], p[2:, :-2], p[2:, 2:]])
        else:
            out = np.maximum.reduce([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
    return out


_XN = 48
_YY, _XX = np.mgrid[0:_XN, 0:_XN]
_DIAG = np.minimum(np.abs(_YY - _XX), np.abs(_YY - (_XN - 1 - _XX)))
_BAND, _LINE = (_DIAG <= 5).astype(np.float32), _DIAG <= 1.5
X_LIKE_MAX = 0.3      # negatives scoring above this are dropped (crossed cutlery, diagonal hubs ...)


def x_likeness(glyph: Image.Image) -> float:
    """How much a glyph looks like a bare X: (share of its ink on the two diagonals, above what
    a uniform blob would put there) x (how much of the diagonals it covers). A plain X scores
    about 0.8-0.98, a plus, a check or a filled square about 0, crossed cutlery 0.3-0.4."""
    k = _XN / max(glyph.size)
    g = glyph.getchannel("A").resize((max(1, round(glyph.width * k)), max(1, round(glyph.height * k))),
                                     Image.BILINEAR)
    c = Image.new("L", (_XN, _XN), 0)
    c.paste(g, ((_XN - g.width) // 2, (_XN - g.height) // 2))
    a = np.asarray(c, np.float32) / 255.0
    prec = float((a * _BAND).sum() / (a.sum() + 1e-6))
    bf = float(_BAND.mean())
    return max(0.0, (prec - bf) / (1 - bf)) * float(a[_LINE].mean())


_RING_ANGLES = np.linspace(0.0, 2.0 * np.pi, 72, endpoint=False)
_RING_DEPTHS = np.linspace(0.62, 1.0, 24)
# a thin bare X reaches 0.1-0.4 (ink only along the diagonals), a heavy ✖ or saltire at most 0.72; the
# circled, boxed and knocked-out X's of the training and held-out sources 0.8-1.0 (mostly above 0.9)
ENCLOSES_MIN = 0.8


def ring_coverage(glyph: Image.Image) -> float:
    """The share of directions from the glyph's centre in which its ink reaches the outer part of its
    box (from 62% of the way to the box edge, out to the edge): about 1 for a glyph that draws a frame
    around its X (circle, square, octagon, a disc with the X knocked out), well under 0.5 for a bare X."""
    a = np.asarray(glyph.getchannel("A"), np.float32) > 0.3 * 255
    ys, xs = np.nonzero(a)
    if len(xs) == 0:
        return 0.0
    a = a[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = a.shape
    dx, dy = np.cos(_RING_ANGLES)[:, None], np.sin(_RING_ANGLES)[:, None]
    with np.errstate(divide="ignore"):
        edge = np.minimum(np.abs((w / 2) / dx), np.abs((h / 2) / dy))
    r = edge * _RING_DEPTHS[None, :]
    px = np.clip(np.round((w - 1) / 2 + dx * r).astype(int), 0, w - 1)
    py = np.clip(np.round((h - 1) / 2 + dy * r).astype(int), 0, h - 1)
    return float(a[py, px].any(axis=1).mean())


def encloses(glyph: Image.Image) -> bool:
    """Whether the glyph draws its own frame around the X (the diary's "X in a circle")."""
    return ring_coverage(glyph) >= ENCLOSES_MIN


def glyph_px(style: dict, size: int) -> int:
    """The longest side (px) :func:`render_button` draws the glyph at for this style and size:
    render the glyph at this size (or larger) to skip a resampling step."""
    return int(math.ceil(size if style["plate"] == "none" else size * style["scale"])) + 1


def _glyph_layers(glyph: Image.Image, W: int, H: int, box_w: float, box_h: float):
    """Resize the RGBA glyph to fit (box_w, box_h) and centre it on a (W, H) canvas:
    (alpha 0..1, rgb 0..1)."""
    k = min(box_w / glyph.width, box_h / glyph.height)
    gw, gh = max(1, round(glyph.width * k)), max(1, round(glyph.height * k))
    g = glyph.resize((gw, gh), Image.LANCZOS)
    canvas = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    canvas.paste(g, ((W - gw) // 2, (H - gh) // 2))
    arr = np.asarray(canvas, np.float32) / 255.0
    return arr[..., 3].copy(), arr[..., :3].copy()


def render_button(glyph: Image.Image, style: dict, size: int, colour: bool = False):
    """Draw ``glyph`` (RGBA from :func:`render_glyph`) in ``style``; ``size`` is the plate's height
    (the glyph's longest side when there is no plate). A monochrome glyph is recoloured (its alpha is
    the shape); a colour glyph keeps its colours. Returns (RGBA sprite cropped tight with 2 px
    padding, body box (x0, y0, x1, y1) = plate + glyph + outline, without shadow / glow)."""
    st = style
    size = int(size)
    plate = st["plate"]
    pw = round(size * st["pill"]) if plate == "pill" else size
    ph = size
    m = int(math.ceil(size * 0.2)) + 3
    W, H = pw + 2 * m, ph + 2 * m
    if plate == "none":
        gbox = (pw, ph)
    else:
        inner = ph * st["scale"]
        gbox = (inner, inner)
    ga, grgb = _glyph_layers(glyph, W, H, *gbox)
    rgb = np.zeros((H, W, 3), np.float32)
    a = np.zeros((H, W), np.float32)

    def plate_mask(inset: float = 0.0):
        mk = Image.new("L", (W * D.SS, H * D.SS), 0)
        d = ImageDraw.Draw(mk)
        x0, y0 = (m + inset) * D.SS, (m + inset) * D.SS
        x1, y1 = (m + pw - inset) * D.SS, (m + ph - inset) * D.SS
        if x1 > x0 and y1 > y0:
            if plate == "circle":
                d.ellipse([x0, y0, x1, y1], fill=255)
            else:
                r = {"square": 0.0, "rsquare": st["radius"], "pill": 0.5}[plate] * ph * D.SS
                d.rounded_rectangle([x0, y0, x1, y1], radius=max(0.0, r - inset * D.SS), fill=255)
        return D.finish_mask(mk)

    fill_m = ring_m = None
    body = ga.copy()
    if plate != "none":
        full = plate_mask()
        if st["fill"] is not None:
            fill_m = full * (1.0 - ga) if (st["knockout"] and not colour) else full
        if st["ring"] is not None:
            ring_m = np.clip(full - plate_mask(st["ring_w"] * ph), 0, 1)
        body = np.maximum(body, full)
    out_m = None
    if st["effect"] == "outline" and not (st["knockout"] and fill_m is not None):
        px = max(1, round(st["outline_w"] * ph * (st["scale"] if plate != "none" else 1.0) * 1.6))
        out_m = dilate(ga, px)
        out_m = D.blur_mask(out_m, 0.6)
        body = np.maximum(body, out_m)
    if st["effect"] == "glow":
        g = st["glow"]
        src = body if plate == "none" else np.maximum(ga, ring_m if ring_m is not None else 0)
        gm = D.blur_mask(dilate(src, max(1, round(size * 0.03))), g["blur"] * size)
        D.over(rgb, a, gm, g["colour"], g["alpha"])
    if st["plate_shadow"] and fill_m is not None or st["effect"] == "shadow":
        s = st["shadow"]
        src = body if (fill_m is not None or plate == "none") else np.maximum(ga, ring_m if ring_m is not None else 0)
        sm = D.shift(D.blur_mask(src, max(0.5, s["blur"] * size)), round(s["dx"] * size), round(s["dy"] * size))
        D.over(rgb, a, sm, D.BLACK, s["alpha"])
    if fill_m is not None:
        D.over(rgb, a, fill_m, st["fill"], st["fill_alpha"])
    if ring_m is not None:
        D.over(rgb, a, ring_m, st["ring"], 1.0)
    if out_m is not None:
        D.over(rgb, a, out_m, st["outline_colour"], 1.0)
    if not (st["knockout"] and fill_m is not None and not colour):
        if colour:
            ca = ga * st["glyph_alpha"]
            out_a = ca + a * (1.0 - ca)
            safe = np.where(out_a > 1e-6, out_a, 1.0)
            rgb[:] = (grgb * ca[..., None] + rgb * (a * (1.0 - ca))[..., None]) / safe[..., None]
            a[:] = out_a
        else:
            D.over(rgb, a, ga, st["glyph"], st["glyph_alpha"])
    img = D.to_image(rgb, a)
    ys, xs = np.nonzero(body > 0.25)
    bb = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    x0, y0, x1, y1 = D.alpha_bbox(img, 3)
    x0, y0 = max(0, x0 - 2), max(0, y0 - 2)
    x1, y1 = min(W, x1 + 2), min(H, y1 + 2)
    img = img.crop((x0, y0, x1, y1))
    return img, (bb[0] - x0, bb[1] - y0, bb[2] - x0, bb[3] - y0)


def button_at_width(glyph: Image.Image, style: dict, width: int, colour: bool = False):
    """:func:`render_button` sized so that the body box is about ``width`` px wide."""
    img, bb = render_button(glyph, style, width if style["plate"] != "pill" else width / style["pill"], colour)
    bw = bb[2] - bb[0]
    if abs(bw - width) > max(1, 0.04 * width):
        size = width if style["plate"] != "pill" else width / style["pill"]
        img, bb = render_button(glyph, style, max(6, round(size * width / max(bw, 1))), colour)
    return img, bb


# ------------------------------------------------------------------------------------- outputs

def save_sprites(folder: Path, sprites, prefix: str, manifest: list[dict]):
    """Write sprites as images/<prefix>_NNNN.png (old outputs removed first; the sprite contract:
    longest side 48..128 px) and images/manifest.json (source, glyph name, style of each)."""
    out = Path(folder) / "images"
    D.clean_dir(out, "*.png")
    for i, im in enumerate(sprites):
        im = D.fit_long_side(im, 48, 128)
        im.save(out / f"{prefix}_{i:04d}.png")
    rows = [dict(file=f"images/{prefix}_{i:04d}.png", **r) for i, r in enumerate(manifest)]
    (out / "manifest.json").write_text(json.dumps(rows, indent=0, sort_keys=True) + "\n")
    return out


def contact_sheet(images, path: Path, cols: int = 10, cell: int = 96, labels=None, bg=(128, 128, 128)):
    """A grid of sprites on a checkered grey background (review aid)."""
    rows = max(1, math.ceil(len(images) / cols))
    lab_h = 12 if labels else 0
    sheet = Image.new("RGB", (cols * cell, rows * (cell + lab_h)), bg)
    d = ImageDraw.Draw(sheet)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        x0, y0 = c * cell, r * (cell + lab_h)
        tile = Image.new("RGB", (cell, cell), (200, 200, 200) if (r + c) % 2 else (90, 110, 140))
        im = im.convert("RGBA")
        k = min((cell - 6) / im.width, (cell - 6) / im.height, 1.0 if max(im.size) > 40 else 2.0)
        im = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.LANCZOS)
        tile.paste(im, ((cell - im.width) // 2, (cell - im.height) // 2), im)
        sheet.paste(tile, (x0, y0))
        if labels:
            d.text((x0 + 2, y0 + cell), str(labels[i])[: cell // 6], fill=(0, 0, 0),
                   font=D.font(D.FONT_LATIN["sans"], 9))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
