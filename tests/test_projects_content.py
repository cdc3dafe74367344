"""Checks on the image projects (format the dataset builder relies on): the committed ones and the
projects that `make assets` renders (close_icons, neg_icons, eval_designs, eval_counts).

Run: pytest tests/test_projects_content.py
"""
import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from tests.test_icon_sources import load_generator

ROOT = Path(__file__).resolve().parents[1] / "projects"
PROJECTS = sorted(p.parent.name for p in ROOT.glob("*/project.yaml") if not p.parent.name.startswith("_"))
RENDERED = ("close_icons", "neg_icons", "eval_designs", "eval_counts")     # generated at setup, not committed
EVAL_PROJECTS = ("eval_screens", "eval_watch_ad", "eval_designs", "eval_counts")


def load(name):
    return yaml.safe_load((ROOT / name / "project.yaml").read_text())


def sources(name, cfg):
    files = []
    for g in cfg["sources"]:
        files += sorted(glob.glob(str(ROOT / name / g)))
    return files


def test_expected_projects_present():
    expected = {"close_plain_x", "close_circle_x", "close_square_x", "close_see_through", "close_varied_x",
                "neg_text_ja",
                "neg_text_latin", "neg_counts", "neg_ui_icons", "backgrounds", "screens_train", "eval_screens",
                "watch_ad_buttons", "neg_game_buttons", "eval_watch_ad", "close_icons", "neg_icons", "eval_designs",
                "eval_counts"}
    assert expected <= set(PROJECTS)


@pytest.mark.parametrize("name", PROJECTS)
def test_project_yaml(name):
    cfg = load(name)
    assert cfg["name"] == name
    assert cfg["task"] in ("classification", "background", "detection")
    if cfg["task"] == "classification":
        assert cfg["label"] in ("close", "not_close", "watch_ad", "other")   # classes come from projects (issue 9)
    assert (ROOT / name / cfg["generator"]).is_file()
    assert {"scale", "rotate", "color_jitter", "hflip", "weight"} <= set(cfg["augment"])
    files = sources(name, cfg)
    hint = " (rendered at setup: run `make assets`)" if name in RENDERED else ""
    assert len(files) >= 30, f"{name}: {len(files)} source files{hint}"


@pytest.mark.parametrize("name", [p for p in PROJECTS if load(p)["task"] == "classification"])
def test_sprites_are_rgba_and_sized(name):
    for f in sources(name, load(name))[::3]:
        im = Image.open(f)
        assert im.mode == "RGBA", f
        assert 48 <= max(im.size) <= 128, (f, im.size)
        a = im.getchannel("A")
        assert a.getextrema()[0] == 0, f  # transparent padding present


@pytest.mark.parametrize("name", [p for p in PROJECTS if load(p)["task"] == "detection"])
def test_detection_annotations(name):
    cfg = load(name)
    coco = json.loads((ROOT / name / cfg["annotations"]).read_text())
    assert coco["categories"] in ([{"id": 1, "name": "close"}], [{"id": 1, "name": "watch_ad"}])
    wide = (0.03, 0.105) if coco["categories"][0]["name"] == "close" else (0.1, 0.85)   # watch_ad buttons are wide
    imgs = {i["id"]: i for i in coco["images"]}
    assert len(imgs) == len(sources(name, cfg))
    for i in list(imgs.values())[::10]:
        with Image.open(ROOT / name / i["file_name"]) as im:
            assert im.size == (i["width"], i["height"])
    per_image = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        img = imgs[a["image_id"]]
        assert 0 <= x and 0 <= y and x + w <= img["width"] and y + h <= img["height"]
        assert wide[0] <= w / img["width"] <= wide[1]
        per_image[a["image_id"]] = per_image.get(a["image_id"], 0) + 1
    assert max(per_image.values()) == 1
    assert len(imgs) - len(per_image) >= 5  # screens without a close button exist


def test_no_forbidden_negative_texts():
    for name in ("neg_text_ja", "neg_text_latin", "neg_game_buttons"):
        src = (ROOT / name / "generate.py").read_text()
        assert "閉じる" not in src.split('"""', 2)[2]
    assert '"Close"' not in (ROOT / "neg_text_latin" / "generate.py").read_text()


def test_counts_never_draw_a_lone_times_sign():
    """A lone "×" is a close button: neg_counts and eval_counts draw it only with a number beside it."""
    neg, held_out = load_generator("neg_counts"), load_generator("eval_counts")
    for text in neg.SINGLE_DIGIT + neg.LONGER + held_out.SINGLE + held_out.LONGER + held_out.JAPANESE:
        assert any(c.isdigit() for c in text) and text.strip("×xX") != "", text


def test_eval_counts_fonts_are_in_no_training_project():
    """eval_counts measures counts in fonts the verifier never saw: every font it draws with is one of
    these families, and no other generator, nor the shared drawing code, names one of them."""
    families = ("roboto", "liberation", "mplus", "vlgothic", "vl-gothic", "vl-pgothic")
    for font in load_generator("eval_counts").FONTS:
        assert any(f in font.lower() for f in families), font
    others = [p for p in ROOT.glob("*/generate.py") if p.parent.name != "eval_counts"] + \
        list((ROOT / "_drawing").glob("*.py")) + [ROOT / "_icons.py", ROOT / "_icon_sources" / "sources.yaml"]
    for path in others:
        text = path.read_text().lower()
        assert not [f for f in families if f in text], path


def test_eval_counts_record_the_font_and_weight_of_every_screen():
    """designs.json says in which font and weight each screen draws its counts (evaluate's false-tap
    rate by weight and font); every weight is there on screens without a button."""
    path = ROOT / "eval_counts" / "designs.json"
    assert path.is_file(), f"{path} missing: run `make assets`"
    designs = json.loads(path.read_text())
    coco = json.loads((ROOT / "eval_counts" / "annotations.json").read_text())
    assert [d["file_name"] for d in designs] == [im["file_name"] for im in coco["images"]]
    assert sum(d["box"] is None for d in designs) == len(coco["images"]) - len(coco["annotations"])
    assert (len(designs), len(coco["annotations"])) == (400, 100)   # 300 screens without a button
    families = {"Roboto", "LiberationSans", "LiberationSerif", "Mplus1", "Mplus2", "VL-Gothic", "VL-PGothic"}
    assert {d["font"] for d in designs} <= families
    assert {d["weight"] for d in designs if d["box"] is None} == {"thin", "light", "regular", "bold", "black"}


def test_eval_projects_are_in_no_training_set():
    sets = ROOT.parent / "conf" / "projects"
    for f in sets.glob("*.yaml"):
        include = yaml.safe_load(f.read_text())["include"]
        for name in EVAL_PROJECTS:
            assert name not in include, (f, name)
    for name in EVAL_PROJECTS:  # and the builder refuses them in any set (gaa_mlops.projects.load_projects)
        assert yaml.safe_load((ROOT / name / "project.yaml").read_text())["held_out"] is True, name


# --------------------------------------------------------------- icon projects (make assets)

def manifest(name):
    path = ROOT / name / "images" / "manifest.json"
    assert path.is_file(), f"{path} missing: run `make assets`"
    return json.loads(path.read_text())


def icon_sources():
    import sys
    sys.path.insert(0, str(ROOT))
    import _icons
    return _icons, {s.id: s for s in _icons.load_table()}


def test_close_icons_names_pass_the_close_filter():
    IC, srcs = icon_sources()
    rows = manifest("close_icons")
    assert 1500 <= len(rows) <= 3000
    per_source = {}
    for r in rows:
        s = srcs[r["source"]]
        assert s.role == "train", r
        assert IC.is_close(r["glyph"], s), r
        per_source[r["source"]] = per_source.get(r["source"], 0) + 1
    assert len(per_source) >= 40
    assert max(per_source.values()) <= 0.03 * len(rows)      # no set dominates
    assert len(sources("close_icons", load("close_icons"))) == len(rows)


def test_neg_icons_names_pass_the_negative_filter():
    IC, srcs = icon_sources()
    rows = manifest("neg_icons")
    assert 2000 <= len(rows) <= 4000
    for r in rows:
        s = srcs[r["source"]]
        assert s.role == "train", r
        assert IC.is_negative(r["glyph"]) and not IC.is_close(r["glyph"], s), r
    close_keys = {(r["source"], r["key"]) for r in manifest("close_icons")}
    assert not close_keys & {(r["source"], r["key"]) for r in rows}
    concepts = {r["concept"] for r in rows}
    assert {"plus", "plus_circle", "info", "check", "play", "chevron", "question"} <= concepts
    assert len(sources("neg_icons", load("neg_icons"))) == len(rows)


def test_eval_designs_draw_from_heldout_sources_only():
    _, srcs = icon_sources()
    path = ROOT / "eval_designs" / "designs.json"
    assert path.is_file(), f"{path} missing: run `make assets`"
    designs = json.loads(path.read_text())
    coco = json.loads((ROOT / "eval_designs" / "annotations.json").read_text())
    with_box = [d for d in designs if d["box"]]
    assert len(with_box) == len(coco["annotations"]) == 600 and len(designs) == 900
    used = {d["source"] for d in with_box}
    assert all(srcs[s].role == "heldout" for s in used), used
    assert len(used) >= 6
    # both bare X's and X's the glyph encloses in a circle or square, each reported on its own
    assert {d["enclosed"] for d in with_box} == {True, False}
    trained = {r["source"] for n in ("close_icons", "neg_icons") for r in manifest(n)}
    assert not used & trained


@pytest.mark.parametrize("project", ["close_plain_x", "screens_train", "neg_text_ja"])
def test_regenerating_a_project_gives_the_committed_files_byte_for_byte(project, tmp_path):
    """The generators, projects/_drawing and the button renderer of projects/_icons.py are
    deterministic: a project regenerated in a copy of projects/ (sprites for close_plain_x; screens,
    text, icons and COCO for screens_train; text and plated buttons for neg_text_ja) is the
    committed project, file for file."""
    copy = tmp_path / "projects"
    shutil.copytree(ROOT / "_drawing", copy / "_drawing", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "_icons.py", copy / "_icons.py")
    (copy / project).mkdir(parents=True)
    shutil.copy(ROOT / project / "generate.py", copy / project / "generate.py")
    out = subprocess.run([sys.executable, str(copy / project / "generate.py")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    committed = {p.relative_to(ROOT / project) for p in (ROOT / project).rglob("*")
                 if p.is_file() and p.name not in ("generate.py", "project.yaml")}
    made = {p.relative_to(copy / project) for p in (copy / project).rglob("*")
            if p.is_file() and p.name != "generate.py"}
    assert made == committed
    assert all((copy / project / f).read_bytes() == (ROOT / project / f).read_bytes() for f in committed)
