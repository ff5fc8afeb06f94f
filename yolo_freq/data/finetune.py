"""How much of a trained checkpoint carries over when fine-tuning it on a dataset with other classes."""

from __future__ import annotations

from pathlib import Path


def transferred_tensors(pretrained: str | Path, model: str | Path, data: str | Path) -> tuple[int, int]:
    """Count the tensors that ``yolo train model=<model> data=<data> pretrained=<pretrained>`` starts from.

    Builds the model for the dataset's class count as the trainer does, loads the checkpoint with Ultralytics' own
    ``load`` (which keeps every tensor whose name and shape match, and rebuilds the class branch's hidden layers at
    the checkpoint's width), then counts the tensors that now equal the checkpoint's. Ultralytics logs "Transferred
    X/Y items from pretrained weights" only at INFO level; this count does not depend on logging. It equals
    Ultralytics' when the new dataset shares no class name with the checkpoint. Where names are shared, the trainer
    also re-maps the class-output tensors row by row by class name (partial copies) and counts them too; they are
    not counted here, so Ultralytics' X is higher by their number.

    Args:
        pretrained (str | Path): Trained checkpoint (``best.pt``).
        model (str | Path): Model YAML (``pcb-fs-n.yaml``) or checkpoint whose architecture is fine-tuned.
        data (str | Path): Dataset YAML of the new dataset (its ``names`` give the class count).

    Returns:
        (tuple[int, int]): Tensors copied unchanged from the checkpoint, and tensors in the model's state dict.
    """
    import torch
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint
    from ultralytics.utils import YAML
    from ultralytics.utils.checks import check_yaml

    import yolo_freq  # noqa: F401  (registers the blocks when autoload is off)

    names = YAML.load(check_yaml(str(data))).get("names")
    nc = len(names) if names else None
    if not nc:
        raise ValueError(f"{data}: no 'names' in the dataset YAML")
    weights, _ = load_checkpoint(str(pretrained))
    source = {k: v.clone() for k, v in weights.float().state_dict().items()}
    cfg = load_checkpoint(str(model))[0].yaml if str(model).endswith(".pt") else str(model)
    net = DetectionModel(cfg, nc=nc, verbose=False)
    net.load(weights, verbose=False)
    target = net.state_dict()
    same = sum(
        1
        for k, v in target.items()
        if k in source and source[k].shape == v.shape and torch.equal(source[k].to(v.dtype), v)
    )
    return same, len(target)
