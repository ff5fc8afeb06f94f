"""GLA-Attention: global-local axial attention, PCB-FS Section 3.3 (after SeaFormer's Sea_Attention)."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from ultralytics.nn.modules import Conv

from ._validate import check_channels, check_divisible, check_int


class GLAAttention(nn.Module):
    """Global-Local Axial Attention (PCB-FS Section 3.3, Algorithm 3, Fig. 3).

    A 1x1 Conv-BN projects the input to queries and keys (``heads * key_dim`` channels each) and values
    (``c1`` channels). The axial branch averages q, k, v over the width (rows) and over the height (columns), adds
    learnable axial positional embeddings to q and k, and runs softmax(q k^T / sqrt(key_dim)) v per axis and head;
    the row and column results are broadcast back and summed. The detail branch applies
    DWConv3x3-BN -> GELU -> DWConv3x3-BN -> Conv1x1-BN to concat(q, k, v). Output:
    ``Y = sigmoid(Conv1x1(Y_row + Y_col)) * Y_detail`` (Sec. 3.3, "Adaptive Feature Fusion").

    Widths follow the paper's ratios so that they scale with the model: at c1 = 512, heads = 4 the paper's
    key_dim = 64 and value dim = 512, i.e. key_dim = c1 / (2 * heads), value dim = c1.

    Departures and decisions: positional embeddings are fixed-length tables (``pos_len``) linearly interpolated
    to the actual axis length, as in SeaFormer, so any input size works (the paper sizes them to H and W). When
    ``c1 == c2`` the block is residual, ``x + Y``, and the last BN of the detail branch starts at zero so that
    the block is an identity at initialisation (SeaFormer's initialisation); the paper's formula has no residual,
    but without it a block inserted before each detection input would replace, not refine, the neck features.

    Args:
        c1 (int): Input channels.
        c2 (int): Output channels.
        heads (int): Attention heads (paper: 4). ``c1`` must be divisible by ``2 * heads``.
        pos_len (int): Length of the positional-embedding tables.

    Shapes:
        (B, c1, H, W) -> (B, c2, H, W), any H, W >= 1.
    """

    def __init__(self, c1: int, c2: int, heads: int = 4, pos_len: int = 16):
        super().__init__()
        check_int("GLAAttention", "c1", c1)
        check_int("GLAAttention", "c2", c2)
        check_int("GLAAttention", "heads", heads)
        check_int("GLAAttention", "pos_len", pos_len, 2)
        check_divisible("GLAAttention", "c1", c1, 2 * heads, f"key_dim = c1 / (2 * heads) with heads={heads}")
        self.c1, self.heads = c1, heads
        self.key_dim = c1 // (2 * heads)
        self.qk, self.v = heads * self.key_dim, c1
        self.scale = self.key_dim**-0.5
        self.qkv = Conv(c1, 2 * self.qk + self.v, 1, act=False)
        self.pos_row = nn.Parameter(torch.randn(2, self.qk, pos_len) * 0.02)  # [q, k] along H
        self.pos_col = nn.Parameter(torch.randn(2, self.qk, pos_len) * 0.02)  # [q, k] along W
        cd = 2 * self.qk + self.v
        self.detail = nn.Sequential(
            Conv(cd, cd, 3, g=cd, act=nn.GELU()), Conv(cd, cd, 3, g=cd, act=False), Conv(cd, c2, 1, act=False)
        )
        self.gate = Conv(self.v, c2, 1, act=False)
        self.add = c1 == c2
        if self.add:
            nn.init.zeros_(self.detail[-1].bn.weight)

    def _axial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Multi-head attention along one squeezed axis: q, k (B, qk, L), v (B, v, L) -> (B, v, L)."""
        pos = F.interpolate(pos, size=q.shape[-1], mode="linear", align_corners=False).to(q.dtype)
        q = (q + pos[0]).unflatten(1, (self.heads, -1)).transpose(-1, -2)  # (B, h, L, dk)
        k = (k + pos[1]).unflatten(1, (self.heads, -1))  # (B, h, dk, L)
        v = v.unflatten(1, (self.heads, -1)).transpose(-1, -2)  # (B, h, L, dv/h)
        attn = ((q @ k) * self.scale).softmax(-1)
        return (attn @ v).transpose(-1, -2).flatten(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate the local detail branch with the axial global context."""
        check_channels(self, x, self.c1)
        qkv = self.qkv(x)
        q, k, v = qkv.split((self.qk, self.qk, self.v), 1)
        rows = self._axial(q.mean(3), k.mean(3), v.mean(3), self.pos_row)  # (B, v, H)
        cols = self._axial(q.mean(2), k.mean(2), v.mean(2), self.pos_col)  # (B, v, W)
        y = self.gate(rows.unsqueeze(-1) + cols.unsqueeze(-2)).sigmoid() * self.detail(qkv)
        return x + y if self.add else y
