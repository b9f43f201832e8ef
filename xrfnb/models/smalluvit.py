"""SmallUViT: a U-shaped Vision Transformer for small datasets, from embedded MA-XRF image to RGB.

The paper's model (its section on SmallUViT): Shifted Patch Tokenization and Locality Self-Attention (Lee, Lee & Song 2021,
"Vision Transformer for Small-Size Datasets") in a U-ViT (Bao et al. 2022) with long skips; 3 + 1 + 3
pre-norm blocks of 9 heads x 32, width 192, MLP ratio 2; then LayerNorm, a Linear to patch pixels, a
rearrange back to the image, and a 3 x 3 convolution. With patch 16 and additive long skips this is the
configuration whose parameter count, without the LSA temperatures and the positional embedding, is the
paper's 3,485,076 (`parameter_counts` and chapter 6 show the count; the choices page, row 15,
says why this configuration).

Beyond the paper, as ablation options: `patch_size` (8 gives a four times finer token grid) and
`pixel_path`, a small convolutional path at full resolution beside the tokens ('mlp': 1 x 1 kernels, one
pixel's embedding; 'conv': 3 x 3 kernels, its neighbours too) whose output is added to the decoded patches
before the final convolution, so colour need not be placed patch by patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import rearrange
from einops.layers.torch import Rearrange
from torch import nn
from torch.nn import functional as F


PIXEL_PATHS = ("none", "mlp", "conv")


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a sample's whole residual branch with probability `rate`, and
    scale the kept ones by 1/(1 - rate) so the expectation is unchanged (Huang et al., 2016)."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return x
        keep = 1 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


@dataclass(frozen=True)
class SmallUViTConfig:
    """Defaults are the paper's; `skip` 'add' reproduces its parameter count, 'concat' is U-ViT's own."""

    image_size: int = 256
    patch_size: int = 16
    in_channels: int = 3
    out_channels: int = 3
    dim: int = 192
    depth_in: int = 3
    depth_mid: int = 1
    depth_out: int = 3
    heads: int = 9
    dim_head: int = 32
    mlp_ratio: float = 2.0
    dropout: float = 0.1  # the paper sets dropout and stochastic depth to the same rate
    drop_path: float = 0.1
    skip: str = "add"
    spt: bool = True  # ablation switch: False tokenizes plain patches
    lsa: bool = True  # ablation switch: False is standard attention (fixed temperature, diagonal kept)
    pixel_path: str = "none"  # beyond the paper: 'mlp' or 'conv', a full-resolution path beside the tokens
    pixel_width: int = 64  # channels of the pixel path

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image size {self.image_size} is not divisible by the patch size {self.patch_size}")
        if self.skip not in ("add", "concat", "none"):
            raise ValueError(f"skip must be 'add', 'concat' or 'none', got {self.skip!r}")
        if self.pixel_path not in PIXEL_PATHS:
            raise ValueError(f"pixel_path must be one of {', '.join(PIXEL_PATHS)}, got {self.pixel_path!r}")
        if self.depth_in != self.depth_out:
            raise ValueError("U-ViT needs as many out-blocks as in-blocks (one long skip each)")

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class ShiftedPatchTokenization(nn.Module):
    """Concatenate the image with four half-patch diagonal shifts (zero fill), cut patches, LayerNorm, Linear."""

    def __init__(self, in_channels: int, dim: int, patch: int, shift: bool = True):
        super().__init__()
        self.half = patch // 2 if shift else 0
        patch_dim = patch * patch * (5 if shift else 1) * in_channels
        self.to_tokens = nn.Sequential(
            Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch, p2=patch),
            nn.LayerNorm(patch_dim),
            nn.Linear(patch_dim, dim),
        )

    def shifted(self, x: torch.Tensor) -> torch.Tensor:
        """The image and its four diagonal shifts by half a patch, stacked on channels (5 C)."""
        s = self.half
        shifts = [(s, -s, s, -s), (-s, s, s, -s), (s, -s, -s, s), (-s, s, -s, s)]  # pad (left, right, top, bottom)
        return torch.cat([x, *(F.pad(x, pad) for pad in shifts)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_tokens(self.shifted(x) if self.half else x)


class LocalitySelfAttention(nn.Module):
    """Multi-head attention with a learnable temperature and the diagonal masked (no token attends to itself)."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float, locality: bool = True):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dropout, self.locality = heads, dropout, locality
        self.log_temperature = nn.Parameter(torch.log(torch.tensor(dim_head ** -0.5)), requires_grad=locality)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        n = x.shape[1]
        allowed = ~torch.eye(n, dtype=torch.bool, device=x.device) if self.locality else None
        # fused attention; the learnable temperature scales q so that its gradient flows
        out = F.scaled_dot_product_attention(q * self.log_temperature.exp(), k, v, attn_mask=allowed,
                                             dropout_p=self.dropout if self.training else 0.0, scale=1.0)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))


class PixelPath(nn.Sequential):
    """Full-resolution colour from each pixel ('mlp', 1 x 1 kernels) or its 3 x 3 neighbourhood ('conv')."""

    def __init__(self, in_channels: int, out_channels: int, width: int, kind: str):
        k = 3 if kind == "conv" else 1
        super().__init__(nn.Conv2d(in_channels, width, k, padding=k // 2), nn.GELU(),
                         nn.Conv2d(width, width, k, padding=k // 2), nn.GELU(), nn.Conv2d(width, out_channels, 1))


class FeedForward(nn.Sequential):
    """Linear, Dropout, GELU, Linear, Dropout (the paper's order)."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__(nn.Linear(dim, hidden), nn.Dropout(dropout), nn.GELU(), nn.Linear(hidden, dim),
                         nn.Dropout(dropout))


class Block(nn.Module):
    """Pre-norm transformer block with stochastic depth; an optional long skip joins before it."""

    def __init__(self, cfg: SmallUViTConfig, drop_path: float, skip: bool = False):
        super().__init__()
        self.skip = nn.Linear(2 * cfg.dim, cfg.dim) if skip and cfg.skip == "concat" else None
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.attn = LocalitySelfAttention(cfg.dim, cfg.heads, cfg.dim_head, cfg.dropout, cfg.lsa)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.ff = FeedForward(cfg.dim, int(cfg.dim * cfg.mlp_ratio), cfg.dropout)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = self.skip(torch.cat([x, skip], dim=-1)) if self.skip is not None else x + skip
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.ff(self.norm2(x)))


class SmallUViT(nn.Module):
    """Embedded MA-XRF image (N, C, H, W) -> RGB image (N, 3, H, W); C = `in_channels`, the latent size
    (the paper's 3)."""

    def __init__(self, cfg: SmallUViTConfig = SmallUViTConfig()):
        super().__init__()
        self.cfg = cfg
        self.tokenize = ShiftedPatchTokenization(cfg.in_channels, cfg.dim, cfg.patch_size, cfg.spt)
        self.pos_embedding = nn.Parameter(torch.zeros(1, cfg.tokens, cfg.dim))
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        n_blocks = cfg.depth_in + cfg.depth_mid + cfg.depth_out
        rates = torch.linspace(0, cfg.drop_path, n_blocks).tolist()  # stochastic depth grows with depth
        self.in_blocks = nn.ModuleList(Block(cfg, rates[i]) for i in range(cfg.depth_in))
        self.mid_blocks = nn.ModuleList(Block(cfg, rates[cfg.depth_in + i]) for i in range(cfg.depth_mid))
        self.out_blocks = nn.ModuleList(Block(cfg, rates[n_blocks - cfg.depth_out + i], skip=True)
                                        for i in range(cfg.depth_out))
        self.norm = nn.LayerNorm(cfg.dim)
        self.to_patch = nn.Linear(cfg.dim, cfg.patch_size ** 2 * cfg.out_channels)
        self.to_image = Rearrange("b (h w) (p1 p2 c) -> b c (h p1) (w p2)", h=cfg.image_size // cfg.patch_size,
                                  p1=cfg.patch_size, p2=cfg.patch_size)
        self.final = nn.Conv2d(cfg.out_channels, cfg.out_channels, 3, padding=1)
        self.pixels = (PixelPath(cfg.in_channels, cfg.out_channels, cfg.pixel_width, cfg.pixel_path)
                       if cfg.pixel_path != "none" else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (self.cfg.in_channels, self.cfg.image_size, self.cfg.image_size):
            raise ValueError(f"SmallUViT expects (N, {self.cfg.in_channels}, {self.cfg.image_size}, "
                             f"{self.cfg.image_size}) input, got {tuple(x.shape)}")
        image = x
        x = self.tokenize(x) + self.pos_embedding
        skips = []
        for block in self.in_blocks:
            x = block(x)
            skips.append(x)
        for block in self.mid_blocks:
            x = block(x)
        for block in self.out_blocks:
            x = block(x, skips.pop() if self.cfg.skip != "none" else None)
        decoded = self.to_image(self.to_patch(self.norm(x)))
        return self.final(decoded if self.pixels is None else decoded + self.pixels(image))


def parameter_counts(model: SmallUViT) -> dict[str, int]:
    """Trainable parameters per part, the paper's count (without LSA temperatures and positional
    embedding, which older summary tools skip) and the full count."""
    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    temperatures = sum(m.log_temperature.numel() for m in model.modules()
                       if isinstance(m, LocalitySelfAttention) and m.log_temperature.requires_grad)
    full = count(model)
    return {
        "shifted patch tokenization": count(model.tokenize),
        "positional embedding": model.pos_embedding.numel(),
        "in blocks": count(model.in_blocks),
        "mid blocks": count(model.mid_blocks),
        "out blocks": count(model.out_blocks),
        "final LayerNorm": count(model.norm),
        "linear to patches": count(model.to_patch),
        "final convolution": count(model.final),
        **({"pixel path": count(model.pixels)} if model.pixels is not None else {}),
        "LSA temperatures": temperatures,
        "paper count (no temperatures, no positional embedding)": full - temperatures - model.pos_embedding.numel(),
        "full": full,
    }
