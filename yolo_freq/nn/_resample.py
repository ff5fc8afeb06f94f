"""Export-safe resizing of a feature map to another level's size (used by MFA and Inject).

Inside a YOLO model the levels come from stride-2 convolutions (size ceil(n/2) per level), so a larger level is an
integer number of times the smaller one when the image sides are multiples of 32, and in general the smaller size is
ceil(larger / 2^k). Average pooling with an integer kernel equal to its stride covers both cases exactly (ceil mode
averages the partial last window over its valid samples only) and exports to ONNX as a plain AveragePool; adaptive
pooling to a non-divisor does not export. Enlarging uses bilinear interpolation to the exact target size.
"""

import torch
import torch.nn.functional as F


def _pool_kernel(n: int, m: int) -> int:
    """Kernel k with ceil(n / k) == m, preferring the power of two that maps YOLO levels onto each other; 0 if none."""
    for k in (1 << max(n - 1, 0).bit_length() >> max(m - 1, 0).bit_length(), -(-n // m)):
        if k >= 1 and -(-n // k) == m:
            return k
    return 0


def resize_to(x: torch.Tensor, size) -> torch.Tensor:
    """Resize `x` (B, C, H, W) to spatial `size` (h, w): identity, integer-kernel average pooling, or bilinear.

    Pooling is used when both sides shrink and an integer k with ``ceil(H / k) == h`` exists (always the case between
    YOLO levels, where k is the power of two between them, so pooled windows are the pixels each coarse-level pixel
    covers); any other combination falls back to bilinear interpolation, so every size pair works. In an ONNX
    export the choice and the pooling kernel are fixed at the export size (between YOLO levels the kernel is the
    same for every input size), while the interpolation target follows the traced shape of the reference map.
    """
    h_in, w_in, h, w = int(x.shape[-2]), int(x.shape[-1]), int(size[0]), int(size[1])  # decide on static sizes
    if h_in == h and w_in == w:
        return x
    if h_in >= h and w_in >= w:
        kh, kw = _pool_kernel(h_in, h), _pool_kernel(w_in, w)
        if kh and kw:
            partial = bool(h_in % kh or w_in % kw)
            return F.avg_pool2d(x, (kh, kw), (kh, kw), ceil_mode=partial)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # traced size: dynamic ONNX export
