"""Distillation loss terms on tiny tensors: zero where they must be, positive with gradients otherwise, exact values."""

import itertools
import math
import pickle
from copy import deepcopy

import pytest
import torch
import torch.nn.functional as F
from ultralytics.cfg import get_cfg
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils import DEFAULT_CFG_DICT
from ultralytics.utils.loss import v8DetectionLoss

from yolo_freq.engine import gpd, self_distill
from yolo_freq.engine.freq_consistency import DecoderTap, decoder_blocks, frequency_consistency_loss
from yolo_freq.engine.loss import DistillationLoss, attach_criterion
from yolo_freq.engine.options import DEFAULTS, TERMS, DistillationConfigError, KDOptions, wants_distillation
from yolo_freq.engine.teacher import TeacherError, check_teacher_file
from yolo_freq.nn import FADSF
from yolo_freq.nn.wavelet import DWT2d

torch.manual_seed(0)


def _grad_ok(loss, *leaves):
    loss.backward()
    return all(x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0 for x in leaves)


# ----- SD-GASNet enhanced KL --------------------------------------------------------------------------------------


def test_enhanced_kl_is_forward_plus_reverse_kl():
    t, s = torch.randn(5, 7), torch.randn(5, 7)
    p, q = t.softmax(-1), s.softmax(-1)
    kl = lambda a, b: (a * (a.log() - b.log())).sum(-1)
    torch.testing.assert_close(self_distill.ekl_softmax(t, s), kl(p, q) + kl(q, p))
    pb, qb = t.sigmoid(), s.sigmoid()
    bern = (pb * (pb / qb).log() + (1 - pb) * ((1 - pb) / (1 - qb)).log()).sum(-1)
    bern_rev = (qb * (qb / pb).log() + (1 - qb) * ((1 - qb) / (1 - pb)).log()).sum(-1)
    torch.testing.assert_close(self_distill.ekl_sigmoid(t, s), bern + bern_rev)


def test_self_distillation_terms_zero_for_identical_teacher():
    scores, boxes = torch.randn(2, 6, 21), torch.randn(2, 4 * 16, 21)
    feats = [torch.randn(2, 8, 4, 4), torch.randn(2, 16, 2, 2)]
    fg = torch.rand(2, 21) > 0.5
    assert self_distill.sd_cls_loss(scores, scores.clone(), 1.0).item() == 0
    assert self_distill.sd_dfl_loss(boxes, boxes.clone(), fg, 16).item() == pytest.approx(0, abs=1e-7)
    assert self_distill.sd_feat_loss(feats, [f.clone() for f in feats]).item() == pytest.approx(0, abs=1e-7)


def test_self_distillation_terms_positive_with_gradients():
    t_scores, t_boxes = torch.randn(2, 6, 21), torch.randn(2, 64, 21)
    t_feats = [torch.randn(2, 8, 4, 4), torch.randn(2, 16, 2, 2)]
    s_scores = torch.randn(2, 6, 21, requires_grad=True)
    s_boxes = torch.randn(2, 64, 21, requires_grad=True)
    s_feats = [torch.randn(2, 8, 4, 4, requires_grad=True), torch.randn(2, 16, 2, 2, requires_grad=True)]
    fg = torch.zeros(2, 21, dtype=torch.bool)
    fg[0, 3] = fg[1, 7] = True
    for loss, leaves in (
        (self_distill.sd_cls_loss(t_scores, s_scores, 2.0), [s_scores]),
        (self_distill.sd_dfl_loss(t_boxes, s_boxes, fg, 16), [s_boxes]),
        (self_distill.sd_feat_loss(t_feats, s_feats), s_feats),
    ):
        assert loss.item() > 0
        assert _grad_ok(loss, *leaves)


def test_dfl_term_sees_positive_anchors_only():
    t, s = torch.randn(1, 64, 10), torch.randn(1, 64, 10)
    fg = torch.zeros(1, 10, dtype=torch.bool)
    fg[0, 2] = True
    base = self_distill.sd_dfl_loss(t, s, fg, 16)
    s2 = s.clone()
    s2[..., 5] += 3  # a negative anchor
    assert self_distill.sd_dfl_loss(t, s2, fg, 16) == base
    empty = self_distill.sd_dfl_loss(t, s.requires_grad_(), torch.zeros_like(fg), 16)
    assert empty.item() == 0 and empty.requires_grad  # no positives: zero, graph kept (DDP needs it)


def test_cosine_schedule_values():
    assert self_distill.cosine_decay(0, 100) == 1.0
    assert self_distill.cosine_decay(25, 100) == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))
    assert self_distill.cosine_decay(50, 100) == pytest.approx(0.5)
    assert self_distill.cosine_decay(75, 100) == pytest.approx(0.5 - 0.5 * math.cos(math.pi / 4))
    assert self_distill.cosine_decay(100, 100) == pytest.approx(0.0)
    assert self_distill.cosine_decay(150, 100) == pytest.approx(0.0)
    steps = [self_distill.cosine_decay(i, 40) for i in range(41)]
    assert all(a > b for a, b in itertools.pairwise(steps))  # strictly decreasing from 1 to 0


# ----- GPD -------------------------------------------------------------------------------------------------------


def test_cooccurrence_prior():
    p = gpd.cooccurrence_prior([[0, 0, 1], [1], [2]], nc=4)
    torch.testing.assert_close(p.sum(1), torch.ones(4))
    torch.testing.assert_close(p[0], torch.tensor([0.5, 0.5, 0.0, 0.0]))  # 0 appears once, with 1
    torch.testing.assert_close(p[1], torch.tensor([1 / 3, 2 / 3, 0.0, 0.0]))  # 1 in two images, once with 0
    torch.testing.assert_close(p[2], torch.tensor([0.0, 0.0, 1.0, 0.0]))
    torch.testing.assert_close(p[3], torch.tensor([0.0, 0.0, 0.0, 1.0]))  # absent class: identity row
    assert torch.equal(gpd.cooccurrence_prior([[0], [1], [2]], 3), torch.eye(3))  # never together: identity
    torch.testing.assert_close(gpd.cooccurrence_prior([[0, 1, 2]], 3), torch.full((3, 3), 1 / 3))  # uniform


def _targets(b=2, a=12, nc=3):
    t = torch.zeros(b, a, nc)
    t[0, 1, 0], t[0, 4, 2], t[1, 7, 1] = 0.8, 0.3, 0.5  # IoU-aware scores on positive anchors
    return t


def test_pdps_is_exactly_the_smoothed_bce_minus_the_plain_one():
    x, t, eps = torch.randn(2, 12, 3), _targets(), 0.1
    prior = gpd.cooccurrence_prior([[0, 1], [1, 2], [0]], 3)
    smoothed = t @ ((1 - eps) * torch.eye(3) + eps * prior)
    torch.testing.assert_close(smoothed.sum(-1), t.sum(-1))  # per-anchor mass kept: box weights unchanged
    norm = t.sum().clamp(min=1)
    bce = lambda target: F.binary_cross_entropy_with_logits(x, target, reduction="sum") / norm
    torch.testing.assert_close(gpd.pdps_loss(x, t, prior, eps, norm), bce(smoothed) - bce(t))
    # a uniform prior is ordinary label smoothing towards all classes (not a no-op), exactly as Formula 31 says
    uniform = torch.full((3, 3), 1 / 3)
    ls = t * (1 - eps) + eps * t.sum(-1, keepdim=True) / 3
    torch.testing.assert_close(gpd.pdps_loss(x, t, uniform, eps, norm), bce(ls) - bce(t))


def test_pdps_zero_for_identity_prior_or_no_smoothing_positive_with_gradients_otherwise():
    t = _targets()
    x = torch.randn(2, 12, 3, requires_grad=True)
    norm = t.sum().clamp(min=1)
    assert gpd.pdps_loss(x, t, torch.eye(3), 0.1, norm).item() == 0
    assert gpd.pdps_loss(x, t, torch.full((3, 3), 1 / 3), 0.0, norm).item() == 0
    x_conf = (t * 8 - 4).requires_grad_()  # logits that favour the labelled class, as training makes them
    loss = gpd.pdps_loss(x_conf, t, torch.full((3, 3), 1 / 3), 0.1, norm)
    assert loss.item() > 0 and _grad_ok(loss, x_conf)


def test_pdps_applies_ultralytics_class_weights():
    x, t, prior = torch.randn(2, 12, 3), _targets(), torch.full((3, 3), 1 / 3)
    w = torch.tensor([1.0, 0.0, 0.0]).view(1, 1, 3)
    delta = 0.1 * (t @ prior - t)
    torch.testing.assert_close(gpd.pdps_loss(x, t, prior, 0.1, 1.0, w), -(x * delta)[..., 0].sum())


def test_msfd_zero_for_same_or_rescaled_features_positive_with_gradients_otherwise():
    t = [torch.randn(2, 4, 3, 3), torch.randn(2, 8, 2, 2)]
    assert gpd.msfd_loss(t, [f.clone() for f in t], [1, 1]).item() == pytest.approx(0, abs=1e-6)
    assert gpd.msfd_loss(t, [3 * f for f in t], [1, 1]).item() == pytest.approx(0, abs=1e-6)  # L2-normalised
    s = [torch.randn(2, 4, 3, 3, requires_grad=True), torch.randn(2, 8, 2, 2, requires_grad=True)]
    assert gpd.msfd_loss(t, s, [0, 0]).item() == 0  # warm-up at t = 0
    loss = gpd.msfd_loss(t, s, [1, 0.5])
    assert 0 < loss.item() <= 4 * 1.5 and _grad_ok(loss, *s)


def test_msfd_warmup_per_level():
    assert gpd.msfd_warmup(0, 10, 3, 3) == [0, 0, 0]
    assert gpd.msfd_warmup(10, 10, 3, 3) == [1, 0.5, pytest.approx(1 / 3)]  # level l full after 3*(l+1)/3 epochs
    assert gpd.msfd_warmup(30, 10, 3, 3) == [1, 1, 1]
    assert gpd.msfd_warmup(0, 10, 0, 3) == [1, 1, 1]  # warm-up off


def test_temporal_zero_for_same_heatmaps_positive_with_gradients_otherwise():
    t = torch.randn(2, 3, 10)
    assert gpd.temporal_loss(t, t.clone()).item() == 0
    s = torch.randn(2, 3, 10, requires_grad=True)
    loss = gpd.temporal_loss(t, s)
    torch.testing.assert_close(loss, (s.sigmoid() - t.sigmoid()).pow(2).sum() / 20)
    assert loss.item() > 0 and _grad_ok(loss, s)


def test_graph_regulariser():
    boxes = torch.tensor([[[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]]], dtype=torch.float)  # (1, 3, 4)
    same = torch.zeros(1, 2, 3)
    same[0, :, :] = torch.tensor([[2.0, 2.0, 2.0], [-1.0, -1.0, -1.0]])  # every node has the same class vector
    assert gpd.graph_loss(same, boxes, (64, 64), 0.1, 0.1).item() == 0
    scores = torch.tensor([[[4.0, -4.0, 0.0], [-4.0, 4.0, 0.0]]], requires_grad=True)
    far = torch.tensor([[[0, 0, 10, 10], [30, 30, 40, 40], [50, 50, 60, 60]]], dtype=torch.float)
    assert gpd.graph_loss(scores, far, (64, 64), 0.1, 0.1).item() == 0  # no overlap: no edge
    loss = gpd.graph_loss(scores, boxes, (64, 64), 0.1, 0.1)
    f = scores.detach().sigmoid()[0].T  # node features (3, nc)
    expected = math.exp(-((1 / 64) ** 2) / 0.1**2) * (f[0] - f[1]).pow(2).sum() / 3  # one edge (0, 1), 3 nodes
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() > 0 and _grad_ok(loss, scores)


# ----- criterion --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student():
    model = DetectionModel("yolov8n.yaml", nc=3, verbose=False)
    model.args = get_cfg()  # the loss gains (box, cls, dfl), as the trainer attaches them
    return model.train()


def _batch():
    return {
        "img": torch.rand(2, 3, 64, 64),
        "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
        "cls": torch.tensor([[0.0], [2.0], [1.0]]),
        "bboxes": torch.tensor([[0.3, 0.3, 0.4, 0.4], [0.7, 0.6, 0.3, 0.5], [0.5, 0.5, 0.6, 0.6]]),
    }


def test_no_term_is_ultralytics_loss_and_terms_leave_its_columns_alone(student):
    batch = _batch()
    preds = student(batch["img"])
    ref_loss, ref_items = v8DetectionLoss(student)(preds, batch)
    loss, items = DistillationLoss(student, KDOptions())(preds, batch)
    assert torch.equal(loss, ref_loss) and list(items) == list(ref_items)
    assert all(torch.equal(items[k], ref_items[k]) for k in ref_items)

    opts = KDOptions(kd_pdps=0.1, kd_graph=1.0)
    crit = DistillationLoss(student, opts, prior=gpd.cooccurrence_prior([[0, 1], [1, 2]], 3))
    loss, items = crit(preds, batch)
    assert list(items) == [*ref_items, "kd_pdps", "kd_graph"]
    assert torch.equal(loss[:3], ref_loss) and loss.shape == (5,)
    assert all(torch.equal(items[k], ref_items[k]) for k in ref_items)


def test_ema_terms_zero_when_ema_is_the_student(student):
    batch = _batch()
    student.eval()  # same BN mode for both, so the EMA copy computes exactly the student's maps
    try:
        preds = student(batch["img"])[1]
        crit = DistillationLoss(student, KDOptions(kd_msfd=1.0, kd_temp=1.0, kd_msfd_warmup=0.0))
        crit.set_progress(step=5, batches_per_epoch=2, total_steps=10, ema=student)
        _, items = crit(preds, batch)
    finally:
        student.train()
    assert items["kd_msfd"].item() == pytest.approx(0, abs=1e-6) and items["kd_temp"].item() == 0


# ----- options and registration -----------------------------------------------------------------------------------


def test_options_defaults_checks_and_selection():
    assert {k: DEFAULT_CFG_DICT[k] for k in DEFAULTS} == DEFAULTS  # registered with Ultralytics' defaults
    assert KDOptions.from_args(DEFAULT_CFG_DICT).active == ()
    assert KDOptions.from_args({"kd_cls": 1, "kd_graph": 2}).active == ("kd_cls", "kd_graph")
    assert KDOptions.from_args({"kd_feat": 1}).needs_teacher == ("kd_feat",)
    with pytest.raises(DistillationConfigError, match="kd_msfd"):
        KDOptions.from_args({"kd_msfd": -1})
    assert not wants_distillation(DEFAULT_CFG_DICT)
    assert wants_distillation({"distill_model": "t.pt"}) and all(wants_distillation({t: 0.5}) for t in TERMS)


def test_teacher_file_check_leaves_urls_and_asset_names_to_ultralytics(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"")
    for name in ("https://example.com/runs/best.pt", "yolov8n.pt", tmp_path / "best.pt"):
        check_teacher_file(name)  # downloaded or read later, by Ultralytics' loader
    with pytest.raises(TeacherError, match="no such file"):
        check_teacher_file(tmp_path / "missing.pt")


def test_ultralytics_checks_kd_argument_types_and_rejects_unknown_keys():
    assert get_cfg(overrides={"kd_cls": 2, "kd_pdps": 0.1}).kd_cls == 2
    with pytest.raises(TypeError, match="kd_temp"):
        get_cfg(overrides={"kd_temp": "high"})
    with pytest.raises(ValueError, match="kd_pdps"):
        get_cfg(overrides={"kd_pdps": 1.5})
    with pytest.raises(SyntaxError, match="kd_bogus"):
        get_cfg(overrides={"kd_bogus": 1})


def test_registration_is_idempotent():
    from ultralytics.engine.model import Model

    from yolo_freq.engine import training_args

    train = Model.train
    training_args.register_arguments()
    training_args.register_trainer_selection()
    assert Model.train is train and train.__wrapped__.__name__ == "train"


# ----- DynaWave-Net frequency consistency (Eq. 30) ----------------------------------------------------------------


def test_frequency_consistency_is_zero_for_equal_maps_and_the_plain_mse_for_even_sizes():
    dwt = DWT2d("haar")
    dec, wave = torch.randn(2, 4, 6, 8, requires_grad=True), torch.randn(2, 4, 6, 8, requires_grad=True)
    assert frequency_consistency_loss([(wave.detach().clone(), wave)], dwt).item() == 0
    loss = frequency_consistency_loss([(dec, wave)], dwt)
    torch.testing.assert_close(loss, F.mse_loss(dec, wave))  # orthonormal Haar keeps the squared error
    loss.backward()
    assert dec.grad.abs().sum() > 0 and wave.grad is None  # the wavelet map is the target
    odd = [(torch.randn(1, 2, 5, 7), torch.randn(1, 2, 5, 7)), (torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4))]
    each = [frequency_consistency_loss([p], dwt) for p in odd]
    torch.testing.assert_close(frequency_consistency_loss(odd, dwt), (each[0] + each[1]) / 2)  # mean over levels
    with pytest.raises(ValueError, match="differ in shape"):
        frequency_consistency_loss([(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))], dwt)


@pytest.fixture(scope="module")
def dynawave():
    model = DetectionModel("dynawave-n.yaml", nc=3, verbose=False)
    model.args = get_cfg()
    return model.train()


def test_kd_freq_reads_every_fadsf_of_the_training_forward_and_refuses_models_without_one(dynawave, student):
    model = deepcopy(dynawave)
    crit = attach_criterion(model, KDOptions(kd_freq=2.0))
    blocks = decoder_blocks(model)
    assert [i for i, _ in blocks] == [14, 16] and len(crit.decoder_taps) == 2
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((o, i[0][1]))) for _, m in blocks]
    batch = _batch()
    preds = model(batch["img"])
    for h in hooks:
        h.remove()
    _, items = crit(preds, batch)
    expected = 2.0 * frequency_consistency_loss(seen, DWT2d("haar"))
    assert list(items)[-1] == "kd_freq" and items["kd_freq"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert items["kd_freq"].item() > 0
    with pytest.raises(RuntimeError, match="did not run on this batch"):
        crit(preds, batch)  # a batch never reads an older forward's maps
    copy = pickle.loads(pickle.dumps(deepcopy(model)))  # EMA and checkpoints: no tensors ride along
    assert all(h.pair is None for m in copy.model for h in m._forward_hooks.values() if isinstance(h, DecoderTap))
    with pytest.raises(DistillationConfigError, match="has no FADSF block"):
        attach_criterion(deepcopy(student), KDOptions(kd_freq=1.0))


def test_kd_freq_names_the_fadsf_whose_width_differs_from_its_lateral(dynawave):
    model = deepcopy(dynawave)
    model.model[16] = FADSF([32, 16], 24)  # a YAML giving this FADSF another width than its lateral
    with pytest.raises(DistillationConfigError, match="FADSF at layer 16 outputs 24 channels but its lateral has 16"):
        attach_criterion(model, KDOptions(kd_freq=1.0))
