"""Batch augmentations for the papers' recipes, on tensors with torch ops only (no torchvision, no PIL).

Every random draw comes from one `AugRNG` (a numpy RandomState + a torch Generator, both seeded from
train.seed and saved in checkpoints), so a resumed run draws the same augmentations.

* `Mixup` — timm's `Mixup` in batch mode (`mode="batch"`, `correct_lam=True`): with prob `mixup_prob` a batch is
  mixed with its flipped self; when both alphas are > 0, CutMix is chosen with prob `mixup_switch_prob`.
  Targets are soft (B, K): `lam·onehot_smooth(y) + (1 − lam)·onehot_smooth(y.flip(0))` (timm `mixup_target`,
  smoothing off-value = s/K). Used with the soft-target cross-entropy `soft_target_ce`.
* `random_erasing` — timm `RandomErasing(mode="const", max_count=1)`: per sample with prob p, one box of area
  2 %–33 % and log-uniform aspect 0.3–3.3 set to 0 (zeros after normalisation), 10 attempts.
* `RandAugment` — "rand-m{M}-n{N}-mstd{S}[-inc1]" (timm's string): N ops per image chosen uniformly, each
  applied with prob 0.5, magnitude ~ N(M, S) clipped to [0, 10]. Ops (timm's increasing set, on tensors):
  Identity (implicit), AutoContrast, Equalize (per-channel 256-bin histogram equalisation), Invert, Rotate
  (±30°·m/10), PosterizeIncreasing (4 − ⌊4·m/10⌋ bits), SolarizeIncreasing (threshold 1 − m/10),
  SolarizeAdd (+0.43·m/10 below 0.5), Color/Contrast/Brightness/SharpnessIncreasing (factor 1 ± 0.9·m/10),
  ShearX/ShearY (±0.3·m/10), TranslateXRel/TranslateYRel (±0.45·m/10 of the side). Colour ops run on the image
  mapped back to [0, 1] per channel (`lo`/`hi` = the dataset's normalised black and white) and re-normalised;
  geometric ops use bilinear `grid_sample` with timm's grey fill (0.5 in [0, 1]). "-ops=A,B,C" restricts the op
  list (e.g. Spikformer's aa_snn subset "-ops=Equalize,Rotate,ShearX,TranslateXRel,TranslateYRel").
* `AutoAugment` — torchvision AutoAugment, ImageNet policy (Spikeformer ImageNet): per image one of the 25
  sub-policies, each op applied with its probability at its magnitude bin (10 bins, torchvision's
  `_augmentation_space`), signed ops with a random sign; same [0, 1] mapping as RandAugment, geometric ops fill
  with black (torchvision's fill=None) using bilinear sampling (the Spikeformer script's interpolation).
* `random_resized_crop` — timm/torchvision RandomResizedCrop per image: 10 attempts of (area ~ U(scale),
  log-aspect ~ U(log ratio)), else a central crop clamped to the ratio range; resized back to the input size
  (bilinear or bicubic, antialiased). A whole-image crop is returned unchanged.
* `hflip` — static images: horizontal flip per sample with prob p.
* `dvs_augment` — event frames (B, T, C, H, W): horizontal flip with prob p (the same for all T of a sample) and
  a random integer roll of (H, W) by (dy, dx) ∈ [−n, n]² with wrap-around (the correct axes; Spikeformer's
  reference rolls dims (1, 2) of (T, C, H, W), i.e. the polarity and H axes).
* `snn_augment_wide` — SNNAugmentWide (Spikformer / Spikingformer CIFAR10-DVS): per sample one op of {Identity,
  ShearX ±0.3 rad, TranslateX/Y ±5 px, Rotate ±30°, Cutout 0.1–11 % square}, 31 magnitude bins with a random
  sign, nearest interpolation, the same transform for every frame.
* `dvs_cutout` — Spikeformer's DVS cutout: per sample one rectangle with sides ~ U(1, n) px zeroed in every frame.

Order in the trainer (train batches only): random_resized_crop → hflip → RandAugment / AutoAugment → random
erasing; event frames: dvs flip/roll → snn_augment_wide → dvs_cutout; then mixup/cutmix.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import torch
import torch.nn.functional as F

from spikestudio import config_schema

# --------------------------------------------------------------------------------------------------- rng


class AugRNG:
    def __init__(self, seed: int):
        self.np = np.random.RandomState((int(seed) * 7919 + 17) % (2 ** 32))
        self.torch = torch.Generator().manual_seed(int(seed) + 1_000_003)

    def state_dict(self) -> dict:
        s = self.np.get_state()
        return {"np": {"kind": s[0], "keys": s[1].tolist(), "pos": int(s[2]), "has_gauss": int(s[3]),
                       "cached_gaussian": float(s[4])}, "torch": self.torch.get_state()}

    def load_state_dict(self, st: dict) -> None:
        n = st["np"]
        self.np.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                           n["cached_gaussian"]))
        self.torch.set_state(st["torch"])


# --------------------------------------------------------------------------------------------------- mixup


def one_hot_smooth(y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    out = torch.full((y.shape[0], num_classes), off, device=y.device, dtype=torch.float32)
    return out.scatter_(1, y.view(-1, 1), on)


def soft_target_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


class Mixup:
    def __init__(self, mixup_alpha: float, cutmix_alpha: float, prob: float, switch_prob: float,
                 label_smoothing: float, num_classes: int, rng: AugRNG):
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.prob, self.switch_prob = float(prob), float(switch_prob)
        self.smoothing, self.num_classes = float(label_smoothing), int(num_classes)
        self.rng = rng
        self.enabled = True

    @property
    def active(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def _params(self) -> tuple[float, bool]:
        r = self.rng.np
        lam, use_cutmix = 1.0, False
        if self.enabled and self.active and r.rand() < self.prob:
            if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
                use_cutmix = bool(r.rand() < self.switch_prob)
                a = self.cutmix_alpha if use_cutmix else self.mixup_alpha
                lam = float(r.beta(a, a))
            elif self.mixup_alpha > 0:
                lam = float(r.beta(self.mixup_alpha, self.mixup_alpha))
            else:
                use_cutmix = True
                lam = float(r.beta(self.cutmix_alpha, self.cutmix_alpha))
        return lam, use_cutmix

    def _bbox(self, shape, lam: float) -> tuple[tuple[int, int, int, int], float]:
        h, w = shape[-2], shape[-1]
        ratio = math.sqrt(1 - lam)
        cut_h, cut_w = int(h * ratio), int(w * ratio)
        cy = int(self.rng.np.randint(0, h))
        cx = int(self.rng.np.randint(0, w))
        yl, yh = int(np.clip(cy - cut_h // 2, 0, h)), int(np.clip(cy + cut_h // 2, 0, h))
        xl, xh = int(np.clip(cx - cut_w // 2, 0, w)), int(np.clip(cx + cut_w // 2, 0, w))
        lam = 1.0 - (yh - yl) * (xh - xl) / float(h * w)  # correct_lam
        return (yl, yh, xl, xh), lam

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, ..., H, W), y (B,) → mixed x (new tensor) and soft targets (B, K). B must be even (timm)."""
        lam, use_cutmix = self._params()
        x = x.clone()
        if lam != 1.0:
            if use_cutmix:
                (yl, yh, xl, xh), lam = self._bbox(x.shape, lam)
                x[..., yl:yh, xl:xh] = x.flip(0)[..., yl:yh, xl:xh]
            else:
                x = x * lam + x.flip(0) * (1.0 - lam)
        y1 = one_hot_smooth(y, self.num_classes, self.smoothing)
        y2 = one_hot_smooth(y.flip(0), self.num_classes, self.smoothing)
        return x, y1 * lam + y2 * (1.0 - lam)


# --------------------------------------------------------------------------------------------------- erasing


def random_erasing(x: torch.Tensor, p: float, rng: AugRNG, min_area: float = 0.02, max_area: float = 1 / 3,
                   min_aspect: float = 0.3) -> torch.Tensor:
    """timm RandomErasing(mode='const', max_count=1) per sample; x (B, ..., H, W). Returns a new tensor."""
    if p <= 0:
        return x
    x = x.clone()
    r = rng.np
    h, w = x.shape[-2], x.shape[-1]
    area = h * w
    log_ratio = (math.log(min_aspect), math.log(1 / min_aspect))
    for b in range(x.shape[0]):
        if r.rand() >= p:
            continue
        for _ in range(10):
            target = r.uniform(min_area, max_area) * area
            aspect = math.exp(r.uniform(*log_ratio))
            eh = int(round(math.sqrt(target * aspect)))
            ew = int(round(math.sqrt(target / aspect)))
            if ew < w and eh < h:
                top = int(r.randint(0, h - eh + 1))
                left = int(r.randint(0, w - ew + 1))
                x[b, ..., top:top + eh, left:left + ew] = 0
                break
    return x


# --------------------------------------------------------------------------------------------------- randaugment

ALL_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
           "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing",
           "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


def parse_randaugment(spec: str) -> dict:
    parts = spec.strip().split("-")
    if not parts or parts[0] != "rand":
        raise ValueError(f"must start with \"rand\" (timm's RandAugment string, e.g. \"rand-m9-n1-mstd0.4\"), got {spec!r}")
    out = {"m": 9.0, "n": 2, "mstd": 0.0, "inc": 1, "ops": list(ALL_OPS)}
    for part in parts[1:]:
        if part.startswith("ops="):
            ops = [o for o in part[4:].split(",") if o]
            bad = [o for o in ops if o not in ALL_OPS and o != "Identity"]
            if bad or not ops:
                raise ValueError(f"unknown RandAugment op(s) {bad}; known: {', '.join(ALL_OPS)}")
            out["ops"] = ops
            continue
        m = re.fullmatch(r"(mstd|mmax|m|n|inc|w)([0-9.]+)", part)
        if not m:
            raise ValueError(f"cannot read {part!r} in {spec!r} (expected m<M>, n<N>, mstd<S>, inc<0|1>, ops=...)")
        key, val = m.group(1), m.group(2)
        try:
            if key == "m":
                out["m"] = float(val)
            elif key == "n":
                out["n"] = int(val)
            elif key == "mstd":
                out["mstd"] = float(val)
            elif key == "inc":
                out["inc"] = int(val)
        except ValueError:
            raise ValueError(f"bad number in {part!r}") from None
    return out


def _affine(img: torch.Tensor, theta: list[list[float]], fill: torch.Tensor) -> torch.Tensor:
    """img (C, H, W) in [0, 1]; theta maps output to input coordinates (normalised [-1, 1])."""
    th = torch.tensor(theta, dtype=img.dtype, device=img.device).unsqueeze(0)
    grid = F.affine_grid(th, [1, *img.shape], align_corners=False)
    ones = torch.ones_like(img[:1])
    both = torch.cat([img, ones], 0).unsqueeze(0)
    out = F.grid_sample(both, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    mask = out[-1:]
    return out[:-1] * mask + fill.view(-1, 1, 1) * (1 - mask)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: float) -> torch.Tensor:
    return (b + (a - b) * factor).clamp(0, 1)  # PIL ImageEnhance: degenerate b, image a


def _gray(img: torch.Tensor) -> torch.Tensor:
    if img.shape[0] == 3:
        g = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
        return g.unsqueeze(0).expand_as(img)
    return img


def _equalize(img: torch.Tensor) -> torch.Tensor:
    q = (img * 255).round().clamp(0, 255).long()
    out = torch.empty_like(img)
    for c in range(img.shape[0]):
        hist = torch.bincount(q[c].flatten(), minlength=256)
        nz = hist[hist > 0]
        step = (hist.sum() - nz[-1]) // 255 if nz.numel() else 0
        if int(step) == 0:
            out[c] = img[c]
            continue
        lut = (torch.cumsum(hist, 0) + step // 2) // step
        lut = torch.cat([lut.new_zeros(1), lut[:-1]]).clamp(0, 255)
        out[c] = lut[q[c]].to(img.dtype) / 255.0
    return out


def _autocontrast(img: torch.Tensor) -> torch.Tensor:
    lo = img.amin(dim=(1, 2), keepdim=True)
    hi = img.amax(dim=(1, 2), keepdim=True)
    scale = torch.where(hi > lo, 1.0 / (hi - lo).clamp_min(1e-12), torch.ones_like(hi))
    return torch.where(hi > lo, (img - lo) * scale, img).clamp(0, 1)


def _posterize(img: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the top `bits` bits of the 8-bit value (PIL ImageOps.posterize)."""
    shift = 8 - min(max(bits, 0), 8)
    q = (img * 255).round().clamp(0, 255).long()
    return ((q >> shift) << shift).to(img.dtype) / 255.0


def _solarize(img: torch.Tensor, thresh: float) -> torch.Tensor:
    """Invert the values ≥ thresh (in [0, 1]; PIL ImageOps.solarize with threshold 255·thresh)."""
    return torch.where(img >= thresh, 1.0 - img, img)


def _enhance(kind: str, img: torch.Tensor, factor: float) -> torch.Tensor:
    """PIL ImageEnhance Color / Contrast / Brightness / Sharpness with `factor` (1 = identity)."""
    if kind == "Color":
        return _blend(img, _gray(img), factor)
    if kind == "Contrast":
        mean = _gray(img).mean()
        return _blend(img, torch.full_like(img, float(mean)), factor)
    if kind == "Brightness":
        return _blend(img, torch.zeros_like(img), factor)
    if kind == "Sharpness":
        k = torch.tensor([[1, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=img.dtype, device=img.device) / 13.0
        smooth = F.conv2d(F.pad(img.unsqueeze(1), (1, 1, 1, 1), mode="replicate"), k.view(1, 1, 3, 3))[:, 0]
        return _blend(img, smooth, factor)
    raise ValueError(f"unknown enhancement {kind}")


def _apply_op(name: str, img: torch.Tensor, mag: float, sign: float, fill: torch.Tensor) -> torch.Tensor:
    level = mag / 10.0
    if name == "Identity":
        return img
    if name == "AutoContrast":
        return _autocontrast(img)
    if name == "Equalize":
        return _equalize(img)
    if name == "Invert":
        return 1.0 - img
    if name == "PosterizeIncreasing":
        return _posterize(img, 4 - int(level * 4))
    if name == "SolarizeIncreasing":
        return _solarize(img, 1.0 - level)
    if name == "SolarizeAdd":
        add = int(level * 110) / 255.0
        return torch.where(img < 0.5, (img + add).clamp(0, 1), img)
    if name in ("ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing"):
        return _enhance(name[: -len("Increasing")], img, 1.0 + sign * level * 0.9)
    if name == "Rotate":
        a = math.radians(sign * level * 30.0)
        c, s = math.cos(a), math.sin(a)
        return _affine(img, [[c, -s, 0.0], [s, c, 0.0]], fill)
    if name == "ShearX":
        return _affine(img, [[1.0, sign * level * 0.3, 0.0], [0.0, 1.0, 0.0]], fill)
    if name == "ShearY":
        return _affine(img, [[1.0, 0.0, 0.0], [sign * level * 0.3, 1.0, 0.0]], fill)
    if name == "TranslateXRel":
        return _affine(img, [[1.0, 0.0, 2 * sign * level * 0.45], [0.0, 1.0, 0.0]], fill)
    if name == "TranslateYRel":
        return _affine(img, [[1.0, 0.0, 0.0], [0.0, 1.0, 2 * sign * level * 0.45]], fill)
    raise ValueError(f"unknown op {name}")


class RandAugment:
    """Per-image RandAugment on normalised (B, C, H, W) batches. lo/hi (C,): the normalised values of black/white."""

    def __init__(self, spec: str, lo: torch.Tensor, hi: torch.Tensor, rng: AugRNG):
        p = parse_randaugment(spec)
        self.m, self.n, self.mstd, self.ops = p["m"], p["n"], p["mstd"], p["ops"]
        self.lo, self.hi = lo.float(), hi.float()
        self.rng = rng
        self.prob = 0.5

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return x
        r = self.rng.np
        lo = self.lo.to(x.device).view(1, -1, 1, 1)
        span = (self.hi - self.lo).clamp_min(1e-12).to(x.device).view(1, -1, 1, 1)
        imgs = ((x.float() - lo) / span).clamp(0, 1)
        fill = torch.full((x.shape[1],), 0.5, device=x.device)
        out = imgs.clone()
        for b in range(x.shape[0]):
            img = imgs[b]
            for _ in range(self.n):
                name = self.ops[int(r.randint(len(self.ops)))]
                if r.rand() >= self.prob:
                    continue
                mag = self.m
                if self.mstd > 0:
                    mag = float(r.normal(self.m, self.mstd))
                mag = max(0.0, min(10.0, mag))
                sign = -1.0 if r.rand() < 0.5 else 1.0
                img = _apply_op(name, img, mag, sign, fill)
            out[b] = img
        return (out * span + lo).to(x.dtype)


# --------------------------------------------------------------------------------------------------- warps


def _warp(img: torch.Tensor, m: list[list[float]], mode: str = "bilinear") -> torch.Tensor:
    """torchvision-style affine warp of img (..., H, W), the same for every leading index (channels, frames).

    `m` is the inverse 2×3 matrix in pixel units about the image centre (torchvision's
    `_get_inverse_affine_matrix`): an output pixel at centred coordinates (x, y) reads the input at
    m·(x, y, 1). Pixels from outside the image are 0 (torchvision's fill=None)."""
    h, w = img.shape[-2], img.shape[-1]
    theta = [[m[0][0], m[0][1] * h / w, m[0][2] * 2.0 / w],
             [m[1][0] * w / h, m[1][1], m[1][2] * 2.0 / h]]
    flat = img.reshape(1, -1, h, w)
    th = torch.tensor(theta, dtype=torch.float32, device=img.device).unsqueeze(0)
    grid = F.affine_grid(th, [1, flat.shape[1], h, w], align_corners=False)
    out = F.grid_sample(flat.float(), grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.to(img.dtype).reshape(img.shape)


def _shear_x(k: float) -> list[list[float]]:
    return [[1.0, k, 0.0], [0.0, 1.0, 0.0]]


def _shear_y(k: float) -> list[list[float]]:
    return [[1.0, 0.0, 0.0], [k, 1.0, 0.0]]


def _translate(dx: float, dy: float) -> list[list[float]]:
    return [[1.0, 0.0, -dx], [0.0, 1.0, -dy]]


def _rotate(degrees: float) -> list[list[float]]:
    """torchvision F.rotate(img, degrees): counter-clockwise on screen about the centre."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return [[c, -s, 0.0], [s, c, 0.0]]


# --------------------------------------------------------------------------------------------------- autoaugment

# torchvision AutoAugmentPolicy.IMAGENET: 25 sub-policies, each two (op, probability, magnitude bin of 10).
AUTOAUGMENT_IMAGENET: tuple = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
    (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
    (("Color", 0.4, 0), ("Equalize", 0.6, None)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
)
AUTOAUGMENT_POLICIES = {"imagenet": AUTOAUGMENT_IMAGENET}
AA_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness",
          "Posterize", "Solarize", "AutoContrast", "Equalize", "Invert")
AA_BINS = 10


@functools.lru_cache(maxsize=64)
def _linspace_values(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(float(v) for v in torch.linspace(lo, hi, n).tolist())  # torch's float32 values, as the references


def _linspace(lo: float, hi: float, n: int, i: int) -> float:
    return _linspace_values(float(lo), float(hi), int(n))[i]


def aa_magnitude(name: str, bin_: int | None, h: int, w: int, num_bins: int = AA_BINS) -> tuple[float, bool]:
    """torchvision AutoAugment `_augmentation_space(num_bins, image_size)`: (magnitude of the bin, signed)."""
    if bin_ is None or name in ("AutoContrast", "Equalize", "Invert"):
        return 0.0, False
    if name in ("ShearX", "ShearY"):
        return _linspace(0.0, 0.3, num_bins, bin_), True
    if name == "TranslateX":
        return _linspace(0.0, 150.0 / 331.0 * w, num_bins, bin_), True
    if name == "TranslateY":
        return _linspace(0.0, 150.0 / 331.0 * h, num_bins, bin_), True
    if name == "Rotate":
        return _linspace(0.0, 30.0, num_bins, bin_), True
    if name in ("Brightness", "Color", "Contrast", "Sharpness"):
        return _linspace(0.0, 0.9, num_bins, bin_), True
    if name == "Posterize":  # 8 - round(bin / ((num_bins - 1) / 4)) bits
        return float((8 - (torch.arange(num_bins) / ((num_bins - 1) / 4)).round().int())[bin_].item()), False
    if name == "Solarize":  # threshold linspace(256, 0, num_bins) (torchvision ≤ 0.12, the version Spikeformer used)
        return _linspace(256.0, 0.0, num_bins, bin_), False
    raise ValueError(f"unknown AutoAugment op {name}")


def _aa_op(name: str, img: torch.Tensor, magnitude: float, mode: str = "bilinear") -> torch.Tensor:
    """torchvision autoaugment `_apply_op` on one image (C, H, W) in [0, 1]; geometric fill 0 (fill=None)."""
    if name == "ShearX":  # shear=[degrees(m), 0] → x_in = x + tan(m)·y about the centre
        return _warp(img, _shear_x(math.tan(magnitude)), mode)
    if name == "ShearY":
        return _warp(img, _shear_y(math.tan(magnitude)), mode)
    if name == "TranslateX":
        return _warp(img, _translate(int(magnitude), 0), mode)
    if name == "TranslateY":
        return _warp(img, _translate(0, int(magnitude)), mode)
    if name == "Rotate":
        return _warp(img, _rotate(magnitude), mode)
    if name in ("Brightness", "Color", "Contrast", "Sharpness"):
        return _enhance(name, img, 1.0 + magnitude)
    if name == "Posterize":
        return _posterize(img, int(magnitude))
    if name == "Solarize":
        return _solarize(img, magnitude / 255.0)
    if name == "AutoContrast":
        return _autocontrast(img)
    if name == "Equalize":
        return _equalize(img)
    if name == "Invert":
        return 1.0 - img
    raise ValueError(f"unknown AutoAugment op {name}")


class AutoAugment:
    """torchvision AutoAugment (default: the ImageNet policy) per image on normalised (B, C, H, W) batches.

    Per image: one sub-policy uniformly, then each of its two ops with its probability (`rand ≤ p`), magnitude
    from its bin of 10 (torchvision's `_augmentation_space`), signed ops negated with prob 0.5. Like RandAugment,
    the ops run on the image mapped to [0, 1] per channel (lo/hi: the normalised black and white) and the result
    is re-normalised; geometric ops use `interpolation` and fill with black (torchvision's fill=None)."""

    def __init__(self, policy: str, lo: torch.Tensor, hi: torch.Tensor, rng: AugRNG, interpolation: str = "bilinear",
                 policies: tuple | list | None = None):
        if policies is None:
            if policy not in AUTOAUGMENT_POLICIES:
                raise ValueError(f"unknown AutoAugment policy {policy!r}; known: {', '.join(AUTOAUGMENT_POLICIES)}")
            policies = AUTOAUGMENT_POLICIES[policy]
        self.policies = tuple(policies)
        self.lo, self.hi = lo.float(), hi.float()
        self.rng = rng
        self.mode = "nearest" if interpolation == "nearest" else "bilinear"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return x
        r = self.rng.np
        h, w = x.shape[-2], x.shape[-1]
        lo = self.lo.to(x.device).view(1, -1, 1, 1)
        span = (self.hi - self.lo).clamp_min(1e-12).to(x.device).view(1, -1, 1, 1)
        imgs = ((x.float() - lo) / span).clamp(0, 1)
        out = imgs.clone()
        for b in range(x.shape[0]):
            sub = self.policies[int(r.randint(len(self.policies)))]
            probs = r.rand(2)
            signs = r.randint(2, size=2)
            img = imgs[b]
            for i, (name, p, bin_) in enumerate(sub):
                if probs[i] > p:
                    continue
                mag, signed = aa_magnitude(name, bin_, h, w)
                if signed and signs[i] == 0:
                    mag = -mag
                img = _aa_op(name, img, mag, self.mode)
            out[b] = img
        return (out * span + lo).to(x.dtype)


# --------------------------------------------------------------------------------------------------- random resized crop

# train.random_resized_crop's keys with their defaults (torchvision's: scale [0.08, 1], ratio [3/4, 4/3], bicubic)
RRC_DEFAULTS = config_schema.defaults("train.random_resized_crop")
RRC_INTERPOLATIONS = config_schema.choices("train.random_resized_crop.interpolation")


def rrc_params(r: np.random.RandomState, h: int, w: int, scale, ratio) -> tuple[int, int, int, int]:
    """torchvision/timm RandomResizedCrop.get_params: (top, left, crop height, crop width)."""
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * r.uniform(scale[0], scale[1])
        aspect = math.exp(r.uniform(log_ratio[0], log_ratio[1]))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(r.randint(0, h - ch + 1))
            left = int(r.randint(0, w - cw + 1))
            return top, left, ch, cw
    in_ratio = w / h  # fallback: central crop, clamped to the ratio range
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def random_resized_crop(x: torch.Tensor, scale, ratio, rng: AugRNG, interpolation: str = "bicubic",
                        lo: torch.Tensor | None = None, hi: torch.Tensor | None = None) -> torch.Tensor:
    """Per sample of (B, C, H, W): crop (rrc_params) and resize back to H×W (antialiased like PIL when shrinking).

    A crop of the whole image is returned as is (scale (1, 1) ratio (1, 1) is the identity). Bicubic overshoot is
    clamped to the per-channel [lo, hi] when given (PIL clips to 0..255)."""
    if x.dim() != 4:
        return x
    r = rng.np
    h, w = x.shape[-2], x.shape[-1]
    out = None
    for b in range(x.shape[0]):
        top, left, ch, cw = rrc_params(r, h, w, scale, ratio)
        if (top, left, ch, cw) == (0, 0, h, w):
            continue
        if out is None:
            out = x.clone()
        crop = x[b:b + 1, :, top:top + ch, left:left + cw].float()
        res = F.interpolate(crop, size=(h, w), mode=interpolation, align_corners=False, antialias=True)[0]
        if lo is not None and hi is not None:
            res = torch.maximum(torch.minimum(res, hi.to(res.device).view(-1, 1, 1)), lo.to(res.device).view(-1, 1, 1))
        out[b] = res.to(x.dtype)
    return x if out is None else out


# --------------------------------------------------------------------------------------------------- dvs


def dvs_augment(x: torch.Tensor, flip_p: float, roll: int, rng: AugRNG) -> torch.Tensor:
    """x (B, T, C, H, W) event frames; per sample: flip W with prob flip_p, roll (H, W) by [-roll, roll]."""
    if x.dim() != 5 or (flip_p <= 0 and roll <= 0):
        return x
    out = x.clone()
    r = rng.np
    for b in range(x.shape[0]):
        s = out[b]
        if flip_p > 0 and r.rand() < flip_p:
            s = s.flip(-1)
        if roll > 0:
            dy, dx = (int(v) for v in r.randint(-roll, roll + 1, size=2))
            s = torch.roll(s, shifts=(dy, dx), dims=(-2, -1))
        out[b] = s
    return out


SNN_WIDE_OPS = ("Identity", "ShearX", "TranslateX", "TranslateY", "Rotate", "Cutout")
SNN_WIDE_BINS = 31
_SNN_WIDE_MAX = {"ShearX": 0.3, "TranslateX": 5.0, "TranslateY": 5.0, "Rotate": 30.0, "Cutout": 30.0}


def snn_wide_params(r: np.random.RandomState, h: int, w: int) -> tuple[str, float, tuple[int, int, int, int] | None]:
    """One SNNAugmentWide draw: (op, signed magnitude, cutout box (top, left, height, width) or None).

    Op uniform over SNN_WIDE_OPS; magnitude = torch.linspace(-max, max, 31)[uniform bin], negated with prob 0.5
    (Identity draws neither). Cutout ignores the magnitude: torchvision RandomErasing(p=1, scale=(0.001, 0.11),
    ratio=(1, 1), value=0) — a square of 0.1–11 % of the area, 10 attempts."""
    name = SNN_WIDE_OPS[int(r.randint(len(SNN_WIDE_OPS)))]
    if name == "Identity":
        return name, 0.0, None
    top = _SNN_WIDE_MAX[name]
    mag = _linspace(-top, top, SNN_WIDE_BINS, int(r.randint(SNN_WIDE_BINS)))
    if r.randint(2):
        mag = -mag
    box = None
    if name == "Cutout":
        for _ in range(10):
            side = int(round(math.sqrt(h * w * r.uniform(0.001, 0.11))))
            if side < h and side < w:
                box = (int(r.randint(0, h - side + 1)), int(r.randint(0, w - side + 1)), side, side)
                break
    return name, mag, box


def snn_augment_wide(x: torch.Tensor, rng: AugRNG) -> torch.Tensor:
    """SNNAugmentWide (Spikformer / Spikingformer CIFAR10-DVS) on event frames (B, T, C, H, W): per sample one op
    from {Identity, ShearX ±0.3 rad, TranslateX/Y ±5 px, Rotate ±30°, Cutout}, the same for all T frames, nearest
    interpolation, zeros outside (torchvision F.affine / F.rotate semantics)."""
    if x.dim() != 5:
        return x
    r = rng.np
    h, w = x.shape[-2], x.shape[-1]
    out = x.clone()
    for b in range(x.shape[0]):
        name, mag, box = snn_wide_params(r, h, w)
        if name == "Identity":
            continue
        if name == "Cutout":
            if box is not None:
                top, left, bh, bw = box
                out[b, ..., top:top + bh, left:left + bw] = 0
            continue
        if name == "ShearX":  # F.affine(shear=[degrees(m), 0]): x_in = x + tan(m)·y
            m = _shear_x(math.tan(mag))
        elif name == "TranslateX":
            m = _translate(int(mag), 0)
        elif name == "TranslateY":
            m = _translate(0, int(mag))
        else:
            m = _rotate(mag)
        out[b] = _warp(x[b], m, "nearest")
    return out


def dvs_cutout_box(r: np.random.RandomState, h: int, w: int, max_side: int) -> tuple[int, int, int, int]:
    """Spikeformer's DVSTransform cutout: sides ~ U(1, max_side), centre ~ U(0, side); (y0, y1, x0, x1) clipped."""
    length = r.uniform(1, max_side)
    height = r.uniform(1, max_side)
    cx = r.uniform(0, w)
    cy = r.uniform(0, h)
    y0, y1 = max(int(cy - height / 2), 0), min(int(cy + height / 2), h)
    x0, x1 = max(int(cx - length / 2), 0), min(int(cx + length / 2), w)
    return y0, y1, x0, x1


def dvs_cutout(x: torch.Tensor, max_side: int, rng: AugRNG) -> torch.Tensor:
    """Event frames (B, T, C, H, W): per sample one rectangle with sides 1..max_side px set to 0 in every frame."""
    if x.dim() != 5 or max_side <= 0:
        return x
    r = rng.np
    h, w = x.shape[-2], x.shape[-1]
    out = x.clone()
    for b in range(x.shape[0]):
        y0, y1, x0, x1 = dvs_cutout_box(r, h, w, max_side)
        out[b, ..., y0:y1, x0:x1] = 0
    return out


def hflip(x: torch.Tensor, p: float, rng: AugRNG) -> torch.Tensor:
    """Static images (B, C, H, W): flip each sample's W axis with probability p."""
    if p <= 0:
        return x
    flips = torch.from_numpy(rng.np.rand(x.shape[0]) < p).to(x.device)
    return torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)


def channel_range(train_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel min and max of a normalised (N, C, H, W) image set (≈ the normalised black and white)."""
    dims = [d for d in range(train_x.dim()) if d != 1]
    sample = train_x[: min(2048, train_x.shape[0])].float()
    return sample.amin(dim=dims).cpu(), sample.amax(dim=dims).cpu()
