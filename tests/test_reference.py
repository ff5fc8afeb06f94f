"""Golden-template inspection, the pure part: alignment by phase correlation and the one compose function."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolo_freq.reference import (
    COMPOSITES,
    MIN_RESPONSE,
    CompositeSpec,
    Golden,
    PhaseCorrelator,
    ReferenceError,
    compose,
    read_image,
)
from yolo_freq.reference.align import MAX_SHIFT
from yolo_freq.reference.compose import as_bgr, as_grey, write_composite

SAMPLE = Path(__file__).resolve().parent / "data" / "deeppcb-sample" / "PCBData"
TEMPLATES = sorted(SAMPLE.rglob("*_temp.jpg"))
STRIPES = "13000038"  # a template of vertical traces only: its vertical shift is barely constrained (aperture problem)


def grey(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def shifted(image: np.ndarray, dx: float, dy: float, how: str) -> np.ndarray:
    """``image`` moved by (dx, dy) px: bilinear or bicubic warp (reflected border), or exact Fourier shift (rounded)."""
    if how == "fourier":
        h, w = image.shape
        fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
        spectrum = np.fft.fft2(image.astype(np.float64)) * np.exp(-2j * np.pi * (fx * dx + fy * dy))
        return np.clip(np.rint(np.real(np.fft.ifft2(spectrum))), 0, 255).astype(np.uint8)
    flags = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[how]
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, image.shape[::-1], flags=flags, borderMode=cv2.BORDER_REFLECT)


def camera_view(image: np.ndarray, dx: float, dy: float, how: str, margin: int = 32):
    """The central part of a board before and after it moved by (dx, dy) px: what a camera sees of a larger board,
    with no border effects (a Fourier shift wraps around, a warp reflects) inside the view."""
    view = (slice(margin, -margin), slice(margin, -margin))
    return image[view], shifted(image, dx, dy, how)[view]


def test_sample_has_real_pairs():
    assert len(TEMPLATES) == 6 and all(t.with_name(t.name.replace("_temp", "_test")).is_file() for t in TEMPLATES)


@pytest.mark.parametrize("how", ["bilinear", "bicubic", "fourier"])
@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_alignment_recovers_known_subpixel_shifts_on_real_images(template, how):
    rng = np.random.default_rng(int(template.stem[:8]))
    tolerance = (0.1, 0.15) if template.stem.startswith(STRIPES) else (0.1, 0.1)
    for dx, dy in rng.uniform(-6, 6, size=(3, 2)):
        reference, moved = camera_view(grey(template), dx, dy, how)
        a = PhaseCorrelator(reference).align(moved)
        assert abs(a.dx - dx) < tolerance[0] and abs(a.dy - dy) < tolerance[1], (dx, dy, a)
        assert a.applied and a.response > 0.8


@pytest.mark.parametrize("size", [(301, 457), (160, 160), (255, 161)])
def test_alignment_at_odd_and_non_square_sizes(size):
    """Crops of a real template. Smaller images carry fewer frequencies: at 64-97 px the error grows to 0.11-0.15."""
    h, w = size
    reference, moved = camera_view(grey(TEMPLATES[0])[: h + 64, : w + 64], 2.3, -1.7, "bicubic")
    a = PhaseCorrelator(reference).align(moved)
    assert abs(a.dx - 2.3) < 0.1 and abs(a.dy + 1.7) < 0.1


def test_an_exact_copy_scores_one_at_zero_shift():
    reference = grey(TEMPLATES[0])
    a = PhaseCorrelator(reference).align(reference.copy())
    assert (a.dx, a.dy) == (0.0, 0.0) and a.response == pytest.approx(1.0, abs=1e-4) and a.applied


def test_unrelated_images_are_flagged_and_not_shifted():
    """Each sample test image against the templates of the other boards: every response under the threshold."""
    tests = sorted(SAMPLE.rglob("*_test.jpg"))
    for test in tests:
        for template in TEMPLATES:
            if template.parent.parent == test.parent.parent:  # same board: related content
                continue
            a = PhaseCorrelator(grey(template)).align(grey(test))
            assert a.response < MIN_RESPONSE and not a.applied, (test.name, template.name, a)


def test_real_pairs_align_with_their_offsets():
    """DeepPCB's templates are offset from their test images by several pixels; a pair with no peak is flagged."""
    for template in TEMPLATES:
        a = PhaseCorrelator(grey(template)).align(grey(template.with_name(template.name.replace("_temp", "_test"))))
        if template.stem.startswith("13000038"):
            assert not a.applied and a.response < MIN_RESPONSE
        else:
            assert a.applied and a.response > 0.4 and 2.5 < max(abs(a.dx), abs(a.dy)) < 6, (template.name, a)


def test_shifts_beyond_the_limit_are_never_applied():
    reference = grey(TEMPLATES[0])
    h, w = reference.shape
    big = MAX_SHIFT * min(h, w) + 8
    a = PhaseCorrelator(reference).align(np.roll(reference, int(big), axis=1))
    assert abs(a.dx - int(big)) < 0.5 and not a.applied


def test_alignment_refuses_other_sizes_and_tiny_images():
    correlator = PhaseCorrelator(grey(TEMPLATES[0]))
    with pytest.raises(ValueError, match="cannot be aligned"):
        correlator.align(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="at least 8x8"):
        PhaseCorrelator(np.zeros((4, 40), np.uint8))


# ---------------------------------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def pair():
    template = TEMPLATES[1]
    test = template.with_name(template.name.replace("_temp", "_test"))
    return read_image(test, 3), Golden.read(template)


def test_grey3_channels_are_image_reference_difference(pair):
    image, golden = pair
    composite, a = compose(image, golden, CompositeSpec(align=False))
    assert a is None and composite.shape == (*image.shape[:2], 3) and composite.dtype == np.uint8
    g = as_grey(image)
    assert np.array_equal(composite[..., 0], g)
    assert np.array_equal(composite[..., 1], golden.grey)
    assert np.array_equal(composite[..., 2], cv2.absdiff(g, golden.grey))


def test_aligned_grey3_moves_the_reference_onto_the_image(pair):
    image, golden = pair
    raw, _ = compose(image, golden, CompositeSpec(align=False))
    composite, a = compose(image, golden, CompositeSpec())
    assert a.applied and max(abs(a.dx), abs(a.dy)) > 2.5
    assert composite[..., 2].mean() < 0.6 * raw[..., 2].mean()  # much of the difference was misregistration
    # pixels the shifted reference leaves uncovered take the image's values: no difference there
    h, w = composite.shape[:2]
    xs = slice(0, int(np.floor(a.dx))) if a.dx > 0 else slice(w + int(np.floor(a.dx)), w)
    assert np.array_equal(composite[:, xs, 1], composite[:, xs, 0]) and not composite[:, xs, 2].any()


def test_colour6_is_image_then_reference_in_bgr(pair):
    image, golden = pair
    composite, _ = compose(image, golden, CompositeSpec("colour6", align=False))
    assert composite.shape == (*image.shape[:2], 6)
    assert np.array_equal(composite[..., :3], as_bgr(image)) and np.array_equal(composite[..., 3:], golden.bgr)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_compose_takes_grey_colour_and_alpha_images_alike(pair, channels):
    image, golden = pair
    g = as_grey(image)
    given = {1: g[..., None], 3: cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), 4: cv2.cvtColor(g, cv2.COLOR_GRAY2BGRA)}
    expected, _ = compose(g, golden, CompositeSpec())
    assert np.array_equal(compose(given[channels], golden, CompositeSpec())[0], expected)


def test_compose_refuses_a_reference_of_another_size(pair):
    image, golden = pair
    with pytest.raises(ReferenceError, match="same field of view"):
        compose(image[:320], golden, CompositeSpec())
    with pytest.raises(ReferenceError, match="8-bit"):
        compose(image.astype(np.float32), golden, CompositeSpec())


@pytest.mark.parametrize("form", COMPOSITES)
def test_composites_are_written_losslessly_and_read_back_by_ultralytics(pair, tmp_path, form):
    image, golden = pair
    composite, _ = compose(image, golden, CompositeSpec(form))
    path = write_composite(tmp_path / "x", composite)
    assert path.suffix == {"grey3": ".png", "colour6": ".tif"}[form]
    assert np.array_equal(read_image(path, composite.shape[2]), composite)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"form": "rgb9"}, "unknown composite form"),
        ({"min_response": 1.5}, r"in \[0, 1\]"),
        ({"min_response": "high"}, r"in \[0, 1\]"),
        ({"align": "yes"}, "true or false"),
    ],
)
def test_spec_errors(kwargs, match):
    with pytest.raises(ReferenceError, match=match):
        CompositeSpec(**kwargs)


def test_spec_round_trips_and_rejects_unknown_keys():
    spec = CompositeSpec("colour6", False, 0.3)
    assert CompositeSpec.from_dict(spec.to_dict()) == spec and spec.channels == 6
    with pytest.raises(ReferenceError, match="unknown keys"):
        CompositeSpec.from_dict({"form": "grey3", "aling": True})
    with pytest.raises(ReferenceError, match="mapping"):
        CompositeSpec.from_dict("grey3")


def test_unreadable_reference_is_a_clear_error(tmp_path):
    bad = tmp_path / "golden.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ReferenceError, match="cannot be read"):
        Golden.read(bad)
