"""The distillation teacher: load ``distill_model`` with clear errors and check it fits the student."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from ultralytics.nn.modules.head import Detect
from ultralytics.nn.tasks import load_checkpoint
from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, is_url

from yolo_freq.engine.options import KDOptions


class TeacherError(ValueError):
    """The ``distill_model`` teacher is missing, unreadable or does not fit the student; the message says why."""


def check_teacher_file(source) -> None:
    """Fail early, before any data or model is loaded, when ``distill_model`` names no file.

    Args:
        source (str | Path | nn.Module): The ``distill_model`` argument. Official asset names (``yolo26s.pt``) and
            URLs are left to Ultralytics, which downloads them.
    """
    name = str(source)
    if isinstance(source, nn.Module) or is_url(name) or Path(name).is_file() or Path(name).name in GITHUB_ASSETS_NAMES:
        return
    raise TeacherError(
        f"distill_model='{source}': no such file (working directory {Path.cwd()}). Pass the trained teacher "
        "checkpoint, e.g. distill_model=runs/detect/stage1/weights/best.pt"
    )


def load_teacher(source) -> nn.Module:
    """Load the teacher checkpoint as Ultralytics' ``DistillationModel`` will, turning failures into TeacherError.

    Args:
        source (str | Path | nn.Module): The ``distill_model`` argument.

    Returns:
        (nn.Module): The teacher model, fp32, eval mode, on the CPU.
    """
    check_teacher_file(source)
    if isinstance(source, nn.Module):
        model = source
    else:
        try:
            model = load_checkpoint(str(source))[0]
        except Exception as e:  # noqa: BLE001 (torch/pickle errors of every kind say little about what to do)
            raise TeacherError(
                f"distill_model='{source}' could not be read as an Ultralytics checkpoint ({type(e).__name__}: {e}). "
                "Pass a .pt written by 'yolo train' (weights/best.pt or last.pt)."
            ) from None
    if not isinstance(getattr(model, "model", None), nn.Sequential) or not isinstance(model.model[-1], Detect):
        raise TeacherError(f"distill_model='{source}' holds a {type(model).__name__}, not a detection model")
    return model


def neck_shapes(model: nn.Module, imgsz: int) -> list[tuple[int, ...]]:
    """Shapes of the maps feeding the head, from one forward of a blank image (train/eval mode is restored).

    Args:
        model (nn.Module): A DetectionModel.
        imgsz (int): Square input size, a multiple of the largest stride.

    Returns:
        (list[tuple[int, ...]]): (C, H, W) per level.
    """
    mode = model.training
    p = next(model.parameters())
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, model.yaml.get("channels", 3), imgsz, imgsz, device=p.device))
    finally:
        model.train(mode)
    feats = (out[1] if isinstance(out, tuple) else out)["feats"]
    return [tuple(f.shape[1:]) for f in feats]


def check_compatible(
    teacher: nn.Module, student: nn.Module, options: KDOptions, source="teacher", names: dict | None = None
) -> None:
    """Raise TeacherError unless the self-distillation terms can pair teacher and student outputs one to one.

    Classes (number and order) and strides must match for ``kd_cls`` (same anchors, same class columns), bins per
    side for ``kd_dfl`` and the channels of every map feeding the head for ``kd_feat``. Ultralytics' own ``dis`` term
    has no such requirement (it learns a projector), so nothing is checked when only it is used.

    Args:
        teacher (nn.Module): Teacher DetectionModel.
        student (nn.Module): Student DetectionModel.
        options (KDOptions): Active terms.
        source (str | Path): How to name the teacher in messages.
        names (dict | None): The student's class names in id order (the dataset's), compared with the teacher's.
    """
    if not options.needs_teacher:
        return
    th, sh = teacher.model[-1], student.model[-1]
    hint = "; the usual teacher is the stage-1 run of the same model YAML on the same data"
    if getattr(th, "one2one_cv2", None) is not None:
        raise TeacherError(
            f"distill_model='{source}' has an end-to-end head (YOLO26/YOLOv10 style); kd_cls/kd_dfl/kd_feat need "
            f"a one-to-many (YOLOv8-style) Detect head like the student's{hint}"
        )
    if th.nc != sh.nc:
        raise TeacherError(f"distill_model='{source}' predicts {th.nc} classes, the student {sh.nc}{hint}")
    if not torch.equal(teacher.stride.cpu().float(), student.stride.cpu().float()):
        raise TeacherError(
            f"distill_model='{source}' has strides {teacher.stride.tolist()}, the student {student.stride.tolist()}: "
            f"kd_cls/kd_dfl/kd_feat compare outputs anchor by anchor{hint}"
        )
    if options.kd_dfl and th.reg_max != sh.reg_max:
        raise TeacherError(
            f"distill_model='{source}' has reg_max={th.reg_max}, the student {sh.reg_max} (kd_dfl){hint}"
        )
    if options.kd_feat:
        imgsz = 2 * int(student.stride.max())
        t, s = neck_shapes(teacher, imgsz), neck_shapes(student, imgsz)
        if [c[0] for c in t] != [c[0] for c in s]:
            raise TeacherError(
                f"distill_model='{source}' feeds its head maps of {[c[0] for c in t]} channels, the student "
                f"{[c[0] for c in s]}: kd_feat compares them channel by channel (use dis for different widths){hint}"
            )
    teacher_names = list(getattr(teacher, "names", {}).values())
    if names is not None and teacher_names != list(names.values()):
        raise TeacherError(
            f"distill_model='{source}' was trained on classes {teacher_names}, this dataset has {list(names.values())}"
            f": the teacher's class i would teach the student's class i (a dataset converted with another class order "
            f"or --classes list?){hint}"
        )
