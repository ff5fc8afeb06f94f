"""Helpers shared by the tests (importable because pytest puts this folder on sys.path)."""

import torch


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BatchNorms trained-looking statistics and BottleReps non-default retention factors, deterministically,
    so that reparameterisation (BN folding, RepVGG fusion) is actually exercised by fused-vs-unfused comparisons."""
    from yolo_freq.nn import BottleRep

    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
        if isinstance(m, BottleRep):
            m.alpha_logit.data.copy_(torch.randn(m.alpha_logit.shape, generator=gen))
    return module


def assert_fused(module: torch.nn.Module) -> None:
    """Every DSLK-Conv and DD-Conv inside ``module`` is in its reparameterised form. Outputs alone cannot show that a
    fuse happened (a no-op fuse keeps them), so fuse tests check this as well."""
    from yolo_freq.nn import DDConv, DSLKConv

    for m in module.modules():
        if isinstance(m, DSLKConv):
            assert m.beta is None and isinstance(m.bn, torch.nn.Identity)
        if isinstance(m, DDConv):
            assert type(m.frft) is torch.nn.Conv2d and isinstance(m.frft_bn, torch.nn.Identity)


def model_fuse(m: torch.nn.Module) -> torch.nn.Module:
    """What the patched BaseModel.fuse() does to a block: its own reparameterisation, RepConv, then Conv+BN folds."""
    from ultralytics.nn.modules import Conv, RepConv
    from ultralytics.utils.torch_utils import fuse_conv_and_bn

    from yolo_freq.nn import FUSABLE_BLOCKS

    for sub in m.modules():
        if isinstance(sub, FUSABLE_BLOCKS):
            sub.fuse()
    for sub in list(m.modules()):
        if isinstance(sub, RepConv):
            sub.fuse_convs()
            sub.forward = sub.forward_fuse
    for sub in m.modules():
        if isinstance(sub, Conv) and hasattr(sub, "bn"):
            sub.conv = fuse_conv_and_bn(sub.conv, sub.bn)
            delattr(sub, "bn")
            sub.forward = sub.forward_fuse
    return m
