"""Checks on the icon sources of close_icons / neg_icons / eval_designs (projects/_icon_sources):
reserved sets never appear, every source is pinned and permissively licensed, training and held-out
sources are disjoint, the glyph-name classifier is conservative, and generation is deterministic.

Run: pytest tests/test_icon_sources.py
"""
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

PROJECTS = Path(__file__).resolve().parents[1] / "projects"
ICONS = PROJECTS / "_icon_sources"
sys.path.insert(0, str(PROJECTS))
import _icons as IC  # noqa: E402

# reserved for an outside evaluation (npm names; Iconify prefixes / repackagings / derivatives)
RESERVED_NPM = {"lucide-static", "lucide", "bootstrap-icons", "@tabler/icons", "heroicons", "ionicons"}
RESERVED_PREFIXES = {"lucide", "lucide-lab", "bi", "tabler", "heroicons", "heroicons-outline", "heroicons-solid",
                     "ion", "famicons"}
HELDOUT_ONLY = {"feather", "fe"}   # Feather is Lucide's parent: eval_designs only
INSTALLED = IC.ICONIFY_DIR.is_dir()


def table():
    return yaml.safe_load((ICONS / "sources.yaml").read_text())


def npm_names():
    pkg = json.loads((ICONS / "package.json").read_text())
    lock = json.loads((ICONS / "package-lock.json").read_text())
    names = set(pkg.get("dependencies", {})) | set(pkg.get("devDependencies", {}))
    for key, meta in lock.get("packages", {}).items():
        if key:
            names.add(key.split("node_modules/")[-1])
            names |= set((meta or {}).get("dependencies", {}))
    return names


def reserved_hit(name: str) -> bool:
    n = name.lower()
    if n in RESERVED_NPM or any(n.startswith(r + "/") or n.startswith(r + "@") for r in RESERVED_NPM):
        return True
    if n.startswith("@iconify-json/") or n.startswith("@iconify-icons/") or n.startswith("@iconify/icons-"):
        return n.split("/", 1)[1].replace("icons-", "", 1) in RESERVED_PREFIXES
    return n in RESERVED_PREFIXES


def test_no_reserved_set_in_npm_manifest():
    hits = sorted(n for n in npm_names() if reserved_hit(n))
    assert not hits, f"reserved icon sets in projects/_icon_sources/package*.json: {hits}"


def test_no_reserved_set_in_source_table():
    raw = table()
    hits = []
    for kind in ("iconify", "font", "unicode"):
        for sid, spec in (raw.get(kind) or {}).items():
            for name in (sid, str(spec.get("package", ""))):
                if reserved_hit(name) or name.lower() in RESERVED_NPM:
                    hits.append((kind, sid, name))
    assert not hits, hits
    assert set(IC.RESERVED_ICONIFY) >= RESERVED_PREFIXES      # the loader refuses every one of them


def test_loader_refuses_reserved_sets():
    for prefix in sorted(RESERVED_PREFIXES):
        with pytest.raises(ValueError, match="reserved"):
            IC.iconify_set(prefix)


def test_feather_is_heldout_only():
    for s in IC.load_table():
        if s.id in HELDOUT_ONLY or s.package in {f"@iconify-json/{p}" for p in HELDOUT_ONLY}:
            assert s.role == "heldout", s.id


def test_roles_and_licences():
    srcs = IC.load_table()
    assert {s.role for s in srcs} == {"train", "heldout"}
    for s in srcs:
        assert s.licence in IC.PERMISSIVE, (s.id, s.licence)
    train = [s for s in srcs if s.role == "train"]
    assert 40 <= sum(s.kind == "iconify" for s in train) <= 100
    assert {s.kind for s in train} == {"iconify", "font", "unicode"}


def test_train_and_heldout_sources_are_disjoint():
    srcs = IC.load_table()
    train = [s for s in srcs if s.role == "train"]
    held = [s for s in srcs if s.role == "heldout"]
    assert not {s.id for s in train} & {s.id for s in held}
    iconify_pkgs = lambda ss: {s.package for s in ss if s.kind == "iconify"}  # noqa: E731
    assert not iconify_pkgs(train) & iconify_pkgs(held)
    files = lambda ss: {s.file for s in ss if s.file}  # noqa: E731
    assert not files(train) & files(held)
    font_pkgs = lambda ss: {s.package for s in ss if s.kind == "font"}  # noqa: E731
    assert not font_pkgs(train) & font_pkgs(held)


def test_every_iconify_source_is_pinned_exactly():
    pkg = json.loads((ICONS / "package.json").read_text())["dependencies"]
    lock = json.loads((ICONS / "package-lock.json").read_text())["packages"]
    table_pkgs = {s.package for s in IC.load_table() if s.kind == "iconify"}
    assert set(pkg) == table_pkgs, "package.json and sources.yaml must list the same Iconify sets"
    for name, version in pkg.items():
        assert version[0].isdigit(), f"{name}: pin an exact version, not {version!r}"
        assert lock[f"node_modules/{name}"]["version"] == version, name


@pytest.mark.skipif(not INSTALLED, reason="icon sets not installed (make assets)")
def test_iconify_licences_match_info_json():
    for s in IC.load_table():
        if s.kind == "iconify":
            info = json.loads((IC.ICONIFY_DIR / s.id / "info.json").read_text())
            assert info["license"]["spdx"] == s.licence, s.id


# ------------------------------------------------------------------------------- the classifier

def src(**kw):
    return IC.Source(id="t", kind="iconify", role="train", licence="MIT", **kw)


@pytest.mark.parametrize("name", ["close", "x", "xmark", "times", "multiply", "dismiss-24-regular", "close-circle",
                                  "close-circle-outline", "x-circle-fill", "circle-xmark", "square-xmark",
                                  "times-circle-o", "window-close", "close-box-outline", "x-square-bold",
                                  "close-octagon", "close-small", "close-thick", "x-16", "close-round-fill"])
def test_close_names(name):
    assert IC.is_close(name)
    assert not IC.is_negative(name)


@pytest.mark.parametrize("name", ["cross", "cancel", "alpha-x", "letter-x", "x-twitter", "x-logo", "folder-close",
                                  "close-network", "closed-caption", "eye-close", "close-box-multiple", "clear",
                                  "remove", "delete", "ban", "calendar-xmark", "file-x", "xbox", "mdi-cross",
                                  "close-all", "fullscreen-exit", "x-ray", "user-x", "plus", "check", "info"])
def test_not_close_names(name):
    assert not IC.is_close(name)


def test_source_specific_close_words():
    material = src(close_tokens=["cancel", "highlight-off"], not_close=["x-circle*"])
    assert IC.is_close("cancel", material) and IC.is_close("baseline-highlight-off", material)
    assert IC.is_close("cancel-outline-rounded", material)
    assert not IC.is_close("cancel-presentation", material)
    assert not IC.is_close("x-circle-outline", material)
    assert not IC.is_close("cancel")     # mdi's cancel is a ban sign: only where the table says so
    assert IC.is_close("error", src(close_names=["error"]))


@pytest.mark.parametrize("name", ["plus", "plus-circle", "add-circle-outline", "information", "info-circle",
                                  "help-circle", "question", "check", "check-circle", "play", "pause",
                                  "chevron-left", "arrow-right", "star", "heart", "menu", "cog", "magnify",
                                  "share-variant", "refresh", "volume-high", "minus", "minus-circle", "home",
                                  "account", "bell", "lock", "gift", "coin", "cart", "download"])
def test_negative_names(name):
    assert IC.is_negative(name)
    assert not IC.is_close(name)


@pytest.mark.parametrize("name", ["close", "x", "x2", "xmark", "cancel", "remove", "delete", "clear", "dismiss",
                                  "cross", "ban", "block", "eye-off", "bell-slash", "error", "volume-mute",
                                  "asterisk", "scissors", "content-cut", "shuffle", "expand", "fullscreen",
                                  "multiplication", "times-circle", "xbox", "crossed-swords", "not-interested",
                                  "do-not-disturb", "backspace", "alpha-x", "cancel-circle", "math-operations",
                                  "dining-room", "superscript", "file-excel", "canceled-circle"])
def test_not_negative_names(name):
    assert not IC.is_negative(name)


def test_concepts():
    assert IC.concept_of("plus-circle") == "plus_circle"
    assert IC.concept_of("add-box") == "plus"
    assert IC.concept_of("square-plus") == "plus_square"
    assert IC.concept_of("chevron-right") == "chevron"
    assert IC.concept_of("lightbulb") is None


def test_x_likeness_separates_x_from_plus():
    from PIL import Image, ImageDraw
    x = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(x).line([(6, 6), (58, 58)], fill=(0, 0, 0, 255), width=8)
    ImageDraw.Draw(x).line([(58, 6), (6, 58)], fill=(0, 0, 0, 255), width=8)
    plus = x.rotate(45)
    assert IC.x_likeness(x) > 0.6
    assert IC.x_likeness(plus) < 0.1


def test_encloses_tells_a_framed_x_from_a_bare_one():
    from PIL import Image, ImageDraw

    def x_glyph(width):
        img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        d = ImageDraw.Draw(img)
        d.line([(16, 16), (48, 48)], fill=(0, 0, 0, 255), width=width)
        d.line([(48, 16), (16, 48)], fill=(0, 0, 0, 255), width=width)
        return img

    bare, heavy = x_glyph(5), x_glyph(14)
    circled = x_glyph(5)
    ImageDraw.Draw(circled).ellipse([2, 2, 61, 61], outline=(0, 0, 0, 255), width=4)
    boxed = x_glyph(5)
    ImageDraw.Draw(boxed).rectangle([2, 2, 61, 61], outline=(0, 0, 0, 255), width=4)
    knocked_out = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(knocked_out).ellipse([2, 2, 61, 61], fill=(0, 0, 0, 255))
    knocked_out.putalpha(Image.fromarray(np.asarray(knocked_out.getchannel("A"))
                                         - np.asarray(x_glyph(5).getchannel("A"))))
    assert not IC.encloses(bare) and not IC.encloses(heavy)
    assert IC.ring_coverage(heavy) > IC.ring_coverage(bare)
    assert IC.encloses(circled) and IC.encloses(boxed) and IC.encloses(knocked_out)
    assert IC.ring_coverage(Image.new("RGBA", (8, 8), (0, 0, 0, 0))) == 0.0


def test_training_draws_plated_buttons_more_often_than_eval_designs():
    assert set(IC.TRAIN_PLATES) == set(IC.PLATES)
    for plate in ("rsquare", "square", "pill"):
        assert IC.TRAIN_PLATES.count(plate) / len(IC.TRAIN_PLATES) > IC.PLATES.count(plate) / len(IC.PLATES)
    rng = np.random.default_rng(0)
    assert {IC.random_style(rng, ["pill", "square"])["plate"] for _ in range(40)} == {"pill", "square"}


# ------------------------------------------------------------------------------- determinism

def load_generator(project):
    spec = importlib.util.spec_from_file_location(f"gen_{project}", PROJECTS / project / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def png_bytes(img):
    b = io.BytesIO()
    img.save(b, "PNG")
    return b.getvalue()


@pytest.mark.skipif(not INSTALLED, reason="icon sets not installed (make assets)")
@pytest.mark.parametrize("project", ["close_icons", "neg_icons"])
def test_sprite_generation_is_byte_identical(project):
    gen = load_generator(project)
    srcs = [s for s in IC.sources("train") if s.id in ("ph", "fa", "twemoji", "symbola")]
    assert len(srcs) == 4
    runs = []
    for _ in range(2):
        IC.iconify_set.cache_clear()
        rows = gen.make_sprites(srcs)
        runs.append(([png_bytes(im) for im, _ in rows], [r for _, r in rows]))
    assert runs[0][1] == runs[1][1]
    assert runs[0][0] == runs[1][0]
    assert len(runs[0][0]) >= 40


@pytest.mark.skipif(not INSTALLED, reason="icon sets not installed (make assets)")
def test_eval_screen_generation_is_byte_identical():
    gen = load_generator("eval_designs")
    outs = []
    for _ in range(2):
        rng = np.random.default_rng(5)
        held = gen.HeldOut(rng)
        scr, box, design = gen.make_screen(rng, held, 720, 1280, True)
        outs.append((scr.tobytes(), box, design))
    assert outs[0] == outs[1]
    assert outs[0][2]["source"] in {s.id for s in IC.sources("heldout")}
