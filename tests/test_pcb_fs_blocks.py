"""PCB-FS blocks: reparameterisation, paper decisions and their departures, errors (the generic block contract is
in test_blocks.py)."""

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fused, randomise

from yolo_freq.nn import C2fDSLKConv, DDConv, DSLKConv, FrFTConv, GLAAttention
from yolo_freq.nn.dslk_conv import stripe_shifts


def test_dslk_branches_equal_one_sparse_large_kernel():
    m = DSLKConv(8, 8, k=13, s=5).eval()
    m.beta.data.normal_()
    randomise(m)
    x = torch.randn(1, 8, 11, 9)
    dense = m.bn(F.conv2d(x, m.large_kernel(), padding=6, groups=8))
    assert torch.allclose(m._large(x), dense, atol=1e-5)
    footprint = (m.large_kernel()[0, 0] != 0).sum().item()
    assert footprint == 13 * 5 * 2 - 5 * 5  # horizontal + vertical stripe, centre counted once


def test_stripe_shifts_cover_the_large_kernel():
    """The s x s windows tile exactly a k x s horizontal and an s x k vertical stripe (the cross), without repeats."""
    for k, s in [(13, 5), (7, 3), (9, 5), (5, 5), (31, 5)]:
        shifts = stripe_shifts(k, s)
        assert len(set(shifts)) == len(shifts), (k, s)
        near, full = range(-(s // 2), s // 2 + 1), range(-(k // 2), k // 2 + 1)
        covered = {(dy + u, dx + v) for dy, dx in shifts for u in near for v in near}
        cross = {(y, x) for y in near for x in full} | {(y, x) for y in full for x in near}
        assert covered == cross, (k, s)


FUSABLE = [lambda: DSLKConv(16, 16), lambda: DDConv(16, 16), lambda: C2fDSLKConv(16, 16, 2)]


def fuse_blocks(m):
    """Reparameterise every DSLK-Conv and DD-Conv inside ``m``, as the patched BaseModel.fuse does in a model."""
    for sub in m.modules():
        if isinstance(sub, (DSLKConv, DDConv)):
            sub.fuse()


@pytest.mark.parametrize("block", FUSABLE)
def test_fuse_preserves_output(block):
    m = block().eval()
    randomise(m)
    for sub in m.modules():
        if isinstance(sub, DSLKConv):
            sub.beta.data.normal_()
    x = torch.randn(2, 16, 13, 7)
    ref = m(x)
    fuse_blocks(m)
    assert_fused(m)
    assert torch.allclose(m(x), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("block", FUSABLE)
def test_fuse_keeps_a_half_precision_blocks_dtype(block):
    """Ultralytics fuses in float32 and casts afterwards, but `model.half().fuse()` must work too."""
    m = block().eval()
    randomise(m)
    x = torch.randn(2, 16, 13, 7)
    ref = m(x)
    m.half()
    fuse_blocks(m)
    assert_fused(m)
    y = m(x.half())
    assert y.dtype == torch.float16
    assert (y.float() - ref).abs().max() <= 5e-3 * ref.abs().max()  # fp16 keeps ~3 significant digits


def test_frft_kernel_is_generated_in_float32_in_a_half_module():
    """The chirp phase reaches tens of radians; generated in fp16 the kernel would be off by about a percent."""
    m = FrFTConv(4, k=7).half()
    k = m.kernel()
    assert k.dtype == torch.float32 and torch.equal(k, m.float().kernel())


def test_c2f_export_forward_split_matches_forward():
    """Ultralytics' exporter swaps every C2f's forward for forward_split; both must agree for C2fDSLKConv."""
    m = C2fDSLKConv(16, 32, 2, True).eval()
    x = torch.randn(1, 16, 10, 10)
    assert torch.equal(m(x), m.forward_split(x))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_c2f_concat_holds_each_split_once(n):
    """Decision: C2f's concat [X1, X2, Y1..Yn], not the paper's (X1, Conv1x1(X), ..., Yn) with X1 twice."""
    m = C2fDSLKConv(16, 32, n)
    assert m.cv2.conv.in_channels == (2 + n) * m.c


def test_frft_orders_stay_in_paper_range():
    m = DDConv(8, 8)
    m.frft.order_logit.data = torch.tensor([-50.0, -1.0, 1.0, 50.0])
    p = m.frft.order
    assert p.min() >= 0.25 and p.max() <= 0.75
    assert m.frft.kernel().shape == (8, 1, 7, 7)


def test_gla_is_identity_at_initialisation():
    """Decision: residual + zero-initialised detail BN, so inserting GLA-Attention starts as a no-op."""
    m = GLAAttention(32, 32).eval()
    x = torch.randn(1, 32, 8, 12)
    assert torch.equal(m(x), x)


def test_ddconv_is_identity_at_initialisation_and_learns_its_scale_first():
    """Decision: a zero-initialised layer scale on the fused features, so inserting DD-Conv starts as a no-op."""
    m = DDConv(16, 16).train()
    x = torch.randn(2, 16, 9, 7)
    y = m(x)
    assert torch.equal(y, x)
    y.square().mean().backward()
    assert m.scale.grad.abs().sum() > 0  # the scale moves on the first step; the branches follow once it is non-zero


def test_ddconv_saved_before_the_layer_scale_keeps_its_trained_form():
    m = DDConv(16, 16).eval()
    torch.nn.init.ones_(m.scale)
    x = torch.randn(1, 16, 5, 6)
    with_ones = m(x)
    del m.starts_as_identity  # a module unpickled from an older checkpoint has no such attribute
    assert torch.allclose(m(x), with_ones)  # x + y, as such a module was trained


def test_gla_paper_widths():
    m = GLAAttention(512, 512)  # paper: 20x20x512, heads 4, dk 64, dv 512
    assert (m.heads, m.key_dim, m.v) == (4, 64, 512)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: DDConv(15, 16), "divisible by 2"),
        (lambda: DDConv(16, 16, k=4), "odd integer"),
        (lambda: GLAAttention(20, 20, heads=4), "divisible by 8"),
        (lambda: GLAAttention(32, 32, heads="4"), "'heads' must be an integer"),
        (lambda: DSLKConv(16, 16, k=3, s=5), "'k' must be an odd integer >= 5"),
        (lambda: C2fDSLKConv(16, 16, 1, True, -0.5), "'e' must be a number"),
        (lambda: FrFTConv(8, k=4), "FrFTConv: argument 'k' must be an odd integer"),  # 'same' padding needs odd k
        (lambda: FrFTConv(8, orders=0), "FrFTConv: argument 'orders' must be an integer >= 1"),
    ],
)
def test_bad_arguments_name_the_block(build, match):
    with pytest.raises(ValueError, match=match):
        build()
