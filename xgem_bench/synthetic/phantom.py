"""Procedural chest radiograph phantoms (frontal PA and lateral) whose visible findings follow a label vector.

Nothing here resembles a real patient; the purpose is ground truth that metrics can be checked against. Images are
256x256 float32 in [0, 1], bright = dense (MONOCHROME2). Coordinates are fractions of the image: x left -> right,
y top -> bottom. As on a real PA film, the patient's right is on the image's left. The lateral view faces left
(anterior on the left, spine on the right).

Each finding is drawn from its own random stream (`_stream(seed, name)`), so rendering the same study with and
without one finding changes only that finding's pixels: tests use this to check that each finding is visible where
it should be.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

SIZE = 256
_Y, _X = (np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5) / SIZE
SIDES = ("right", "left")  # patient sides


@dataclass(frozen=True)
class Site:
    """Where a finding lies: patient side(s) and lung zone, as the report states them (or drawn at random)."""

    sides: tuple[str, ...] = ("right",)
    zone: str = "lower"  # upper | mid | lower
    severity: float = 0.6  # 0..1


@dataclass(frozen=True)
class Anatomy:
    """One subject's body habitus (shared by all of that subject's studies)."""

    cx: float
    body_half_width: float
    lung_half_width: float  # of each lung
    lung_gap: float  # distance of each lung centre from the midline
    lung_top: float
    dome_right: float  # diaphragm dome height (y) on the patient's right; the left dome sits lower
    dome_left: float
    heart_ctr: float  # cardiothoracic ratio without cardiomegaly
    heart_cy: float
    tissue: float  # soft-tissue brightness
    rib_phase: float
    lateral_depth: float  # anteroposterior chest depth in the lateral view

    @property
    def thorax_half_width(self) -> float:
        return self.lung_gap + self.lung_half_width

    def lung_cx(self, side: str) -> float:
        return self.cx - self.lung_gap if side == "right" else self.cx + self.lung_gap

    def dome(self, side: str) -> float:
        return self.dome_right if side == "right" else self.dome_left


@dataclass(frozen=True)
class Findings:
    present: dict[str, Site] = field(default_factory=dict)
    device: str = "line"  # line | tube | pacemaker, when Support Devices is present

    def __contains__(self, name: str) -> bool:
        return name in self.present


#: cardiothoracic ratio of an enlarged heart (normal hearts are drawn at 0.40-0.48)
CARDIOMEGALY_CTR = (0.58, 0.66)


def _stream(seed, name: str) -> np.random.Generator:
    return np.random.default_rng([*np.atleast_1d(seed).tolist(), zlib.crc32(name.encode())])


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    dome_right = rng.uniform(0.68, 0.72)
    return Anatomy(cx=0.5 + rng.normal(0, 0.008), body_half_width=rng.uniform(0.41, 0.46),
                   lung_half_width=rng.uniform(0.135, 0.155), lung_gap=rng.uniform(0.175, 0.195),
                   lung_top=rng.uniform(0.13, 0.17), dome_right=dome_right,
                   dome_left=dome_right + rng.uniform(0.015, 0.035), heart_ctr=rng.uniform(0.40, 0.48),
                   heart_cy=rng.uniform(0.60, 0.64), tissue=rng.uniform(0.50, 0.58), rib_phase=rng.uniform(0, 1),
                   lateral_depth=rng.uniform(0.28, 0.33))


# --- drawing primitives (all on the shared 256x256 grid) ----------------------------------------------------------

def _soft(distance: np.ndarray, width: float = 0.006) -> np.ndarray:
    """~1 where distance > 0 (inside), ~0 outside, with an edge a few pixels wide."""
    return 0.5 * (1.0 + np.tanh(distance / width))


def _ellipse_r(cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    return np.sqrt(((_X - cx) / ax) ** 2 + ((_Y - cy) / ay) ** 2)


def _ellipse(cx: float, cy: float, ax: float, ay: float, width: float = 0.006) -> np.ndarray:
    return _soft((1.0 - _ellipse_r(cx, cy, ax, ay)) * min(ax, ay), width)


def _band(curve_y: np.ndarray, half_width: float) -> np.ndarray:
    return np.exp(-((_Y - curve_y) / half_width) ** 2)


def _polyline(points, sigma_px: float = 0.8) -> np.ndarray:
    """A thin bright curve through `points` (x, y fractions): dense samples stamped, then blurred; peak ~1."""
    points = np.asarray(points, dtype=np.float32)
    lengths = np.r_[0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]
    t = np.linspace(0, lengths[-1], max(2, int(lengths[-1] * SIZE * 3)))
    xs, ys = np.interp(t, lengths, points[:, 0]), np.interp(t, lengths, points[:, 1])
    canvas = np.zeros((SIZE, SIZE), np.float32)
    cols, rows = np.clip((xs * SIZE).astype(int), 0, SIZE - 1), np.clip((ys * SIZE).astype(int), 0, SIZE - 1)
    canvas[rows, cols] = 1.0
    canvas = gaussian_filter(canvas, sigma_px)
    return canvas / max(canvas.max(), 1e-6)


@lru_cache(maxsize=1)
def _noise_bank() -> tuple[np.ndarray, np.ndarray]:
    """Fixed banks of smooth (unit-variance) and white noise fields; studies take randomly rolled copies.
    Filtering fresh noise per image would cost most of the build time."""
    rng = np.random.default_rng(20240601)
    white = rng.standard_normal((8, SIZE, SIZE)).astype(np.float32)
    smooth = gaussian_filter(white, (0, 2.5, 2.5), mode="wrap")
    smooth /= smooth.std(axis=(1, 2), keepdims=True)
    return smooth, rng.standard_normal((8, SIZE, SIZE)).astype(np.float32)


def _rolled(bank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    k, dy, dx = rng.integers(0, len(bank)), rng.integers(0, SIZE), rng.integers(0, SIZE)
    field = np.roll(bank[k], (int(dy), int(dx)), axis=(0, 1))
    return field.T if rng.integers(0, 2) else field


def _smooth_noise(rng: np.random.Generator) -> np.ndarray:
    return _rolled(_noise_bank()[0], rng)


def _markings(rng: np.random.Generator, hilum_x: float, hilum_y: float) -> np.ndarray:
    """Vessel-like network, denser towards the hilum (zero crossings of smooth noise look like branching lines)."""
    ridges = np.exp(-(_smooth_noise(rng) / 0.35) ** 2)
    return ridges * np.exp(-np.hypot(_X - hilum_x, _Y - hilum_y) / 0.22)


def _zone_y(anatomy: Anatomy, zone: str, dome: float) -> float:
    return {"upper": anatomy.lung_top + 0.1, "mid": 0.5 * (anatomy.lung_top + dome) + 0.03,
            "lower": dome - 0.08}.get(zone, dome - 0.08)


def _blobs(rng: np.random.Generator, cx: float, cy: float, spread_x: float, spread_y: float) -> np.ndarray:
    """Patchy opacity: a few soft blobs, made irregular by smooth noise."""
    out = np.zeros((SIZE, SIZE), np.float32)
    for _ in range(int(rng.integers(4, 8))):
        bx, by = cx + rng.uniform(-spread_x, spread_x), cy + rng.uniform(-spread_y, spread_y)
        sigma = rng.uniform(0.02, 0.045)
        out += np.exp(-((_X - bx) ** 2 + (_Y - by) ** 2) / (2 * sigma ** 2))
    texture = np.clip(0.55 + 0.45 * _smooth_noise(rng), 0, 1)
    return np.clip(out, 0, 1) * texture


# --- frontal (PA) --------------------------------------------------------------------------------------------------

def heart_half_width(anatomy: Anatomy, findings: Findings) -> float:
    ctr = anatomy.heart_ctr
    if "Cardiomegaly" in findings:
        low, high = CARDIOMEGALY_CTR
        ctr = low + (high - low) * findings.present["Cardiomegaly"].severity
    return ctr * anatomy.thorax_half_width


def _device_points(kind: str, cx: float, heart_cy: float):
    if kind == "pacemaker":
        return [(cx + 0.27, 0.2), (cx + 0.12, 0.15), (cx + 0.0, 0.24), (cx - 0.02, 0.4), (cx + 0.02, heart_cy),
                (cx + 0.08, heart_cy + 0.04)]
    if kind == "tube":
        return [(cx, 0.0), (cx, 0.1), (cx + 0.005, 0.27)]
    return [(cx - 0.33, 0.12), (cx - 0.2, 0.14), (cx - 0.08, 0.18), (cx - 0.04, 0.27), (cx - 0.035, 0.42)]


def render_frontal(anatomy: Anatomy, findings: Findings, seed) -> np.ndarray:
    a = anatomy
    # body: a trunk whose width grows from the neck to the shoulders
    shoulder = np.clip((_Y - 0.03) / 0.12, 0, 1)
    body_w = a.body_half_width * (0.45 + 0.55 * shoulder)
    body = _soft(body_w - np.abs(_X - a.cx), 0.01) * _soft(_Y - 0.02, 0.01)
    density = a.tissue * body
    air = np.zeros((SIZE, SIZE), np.float32)
    lungs = {}
    for side in SIDES:
        lcx, dome = a.lung_cx(side), a.dome(side)
        ay = (dome - a.lung_top) * 0.62
        diaphragm = dome + 0.06 * ((_X - lcx) / a.lung_half_width) ** 2
        lungs[side] = _ellipse(lcx, a.lung_top + ay, a.lung_half_width, ay) * _soft(diaphragm - _Y, 0.004)
    heart_ax = heart_half_width(a, findings)
    heart = _ellipse(a.cx + 0.25 * heart_ax, a.heart_cy, heart_ax, 0.11, 0.008)
    mediastinum = _soft(0.055 - np.abs(_X - a.cx), 0.01) * _soft(_Y - 0.06, 0.01) * _soft(a.heart_cy - _Y, 0.03)
    trachea = _soft(0.014 - np.abs(_X - a.cx), 0.004) * _soft(_Y - 0.02, 0.01) * _soft(0.3 - _Y, 0.02)
    spine = _soft(0.032 - np.abs(_X - a.cx), 0.004) * (0.8 + 0.2 * np.cos(2 * np.pi * _Y / 0.047) ** 2)
    dx = np.abs(_X - a.cx)
    # ten posterior ribs: bands every 0.058 along curves that fall away from the spine (one periodic expression)
    rib_phase = (_Y - 0.55 * dx ** 2 - 0.12 * dx - a.lung_top + 0.03) / 0.058 - 0.3 * a.rib_phase
    offset = (rib_phase - np.round(rib_phase)) * 0.058
    ribs = np.exp(-(offset / 0.008) ** 2) * (rib_phase > -0.5) * (rib_phase < 9.5)
    ribs *= _soft(a.thorax_half_width + 0.03 - dx, 0.01) * _soft(dx - 0.03, 0.01)
    clavicles = _band(0.13 - 0.17 * (dx - 0.03), 0.01) * _soft(dx - 0.03, 0.01) * _soft(0.3 - dx, 0.01)
    markings = _markings(_stream(seed, "markings"), a.cx, 0.45)
    for side in SIDES:
        air += lungs[side]
    air *= 1.0 - 0.8 * heart
    air = np.clip(air, 0, 1)
    extra = np.zeros((SIZE, SIZE), np.float32)

    for side in SIDES:  # findings that live in one or both lungs
        lung, lcx, dome = lungs[side], a.lung_cx(side), a.dome(side)
        lateral = np.clip((np.abs(_X - a.cx) - (a.lung_gap - a.lung_half_width)) / (2 * a.lung_half_width), 0, 1)
        for name, site in findings.present.items():
            if side not in site.sides:
                continue
            rng = _stream(seed, f"{name}/{side}")
            if name == "Pleural Effusion":
                height = 0.05 + 0.14 * site.severity
                top = dome + 0.04 - height * (0.45 + 0.55 * lateral)  # meniscus: higher against the chest wall
                fluid = _soft(_Y - top, 0.008) * lung  # fluid replaces aerated lung: soft-tissue density
                air *= 1 - fluid
                extra += 0.05 * fluid
            elif name in ("Lung Opacity", "Consolidation"):
                y = _zone_y(a, site.zone, dome)
                if name == "Consolidation":
                    patch = _ellipse(lcx + rng.uniform(-0.03, 0.03), y, a.lung_half_width * 0.8, 0.08, 0.015)
                    strength = 0.3
                else:
                    patch = _blobs(rng, lcx, y, a.lung_half_width * 0.55, 0.06)
                    strength = 0.2
                patch *= lung
                air *= 1 - (0.4 + 0.4 * site.severity) * patch
                extra += strength * (0.6 + 0.4 * site.severity) * patch
            elif name == "Atelectasis":
                for k in range(int(rng.integers(2, 4))):
                    y = dome - 0.035 - 0.03 * k + 0.03 * (_X - lcx) * rng.uniform(-1, 1)
                    plate = _band(y, 0.006) * _soft(a.lung_half_width * 0.6 - np.abs(_X - lcx - rng.uniform(
                        -0.03, 0.03)), 0.01)
                    extra += 0.2 * plate * lung
            elif name == "Pneumothorax":
                shrink = 0.75 - 0.25 * site.severity
                ay = (dome - a.lung_top) * 0.62
                collapsed_cy = a.lung_top + ay + (1 - shrink) * ay * 0.6
                outward = -1 if side == "right" else 1
                collapsed_cx = lcx - outward * (1 - shrink) * a.lung_half_width * 0.5
                r = _ellipse_r(collapsed_cx, collapsed_cy, a.lung_half_width * shrink, ay * shrink)
                gap = lung * _soft(r - 1.0, 0.01)
                pleural_line = lung * np.exp(-(((r - 1.0) * a.lung_half_width * shrink) / 0.003) ** 2)
                markings *= 1 - gap
                extra += 0.16 * pleural_line - 0.1 * gap

    if "Edema" in findings:
        severity = findings.present["Edema"].severity
        haze = np.exp(-((_X - a.cx) / 0.19) ** 2 - ((_Y - 0.47) / 0.14) ** 2) * (lungs["right"] + lungs["left"])
        air *= 1 - (0.35 + 0.3 * severity) * haze
        extra += (0.12 + 0.08 * severity) * haze
        markings *= 1 - 0.5 * haze
        kerley = np.zeros((SIZE, SIZE), np.float32)
        for side in SIDES:
            edge = a.lung_cx(side) + (-1 if side == "right" else 1) * a.lung_half_width * 0.8
            for k in range(4):
                y = a.dome(side) - 0.03 - 0.022 * k
                kerley += _band(np.float32(y), 0.003) * _soft(0.025 - np.abs(_X - edge), 0.004)
        extra += 0.1 * kerley * (lungs["right"] + lungs["left"])

    density = (density + 0.2 * heart + 0.16 * mediastinum + 0.2 * spine * body + 0.1 * ribs
               + 0.12 * clavicles - 0.25 * trachea - 0.34 * air + 0.09 * markings * air + extra)
    if "Support Devices" in findings:
        device = _polyline(_device_points(findings.device, a.cx, a.heart_cy))
        if findings.device == "pacemaker":
            device = np.maximum(device, _soft(0.035 - np.abs(_X - a.cx - 0.27), 0.003)
                                * _soft(0.025 - np.abs(_Y - 0.2), 0.003))
        density = np.maximum(density, 0.0) + 0.45 * device
    return _finish(density, seed)


def _finish(density: np.ndarray, seed) -> np.ndarray:
    noise = 0.008 * _rolled(_noise_bank()[1], _stream(seed, "noise"))
    return np.clip(density + noise, 0.0, 1.0).astype(np.float32)


# --- lateral -------------------------------------------------------------------------------------------------------

def render_lateral(anatomy: Anatomy, findings: Findings, seed) -> np.ndarray:
    a = anatomy
    depth = a.lateral_depth
    front, back = 0.5 - depth, 0.5 + depth
    shoulder = np.clip((_Y - 0.03) / 0.15, 0, 1)
    body = (_soft(_X - (front + 0.06 * (1 - shoulder)), 0.01) * _soft(back - _X, 0.01) * _soft(_Y - 0.02, 0.01))
    lung_cx, lung_ax = 0.5 + 0.01, depth - 0.06
    dome = 0.5 * (a.dome_right + a.dome_left)
    lung_ay = (dome - a.lung_top) * 0.62
    diaphragm = dome + 0.02 + 0.08 * ((_X - front - 0.1) / (2 * lung_ax)) ** 2  # deepest posteriorly
    lung = _ellipse(lung_cx, a.lung_top + lung_ay, lung_ax, lung_ay) * _soft(diaphragm - _Y, 0.004)
    heart_ax = 0.1 + 0.9 * (heart_half_width(a, findings) - 0.13)
    heart = _ellipse(front + 0.05 + heart_ax, a.heart_cy + 0.02, heart_ax, 0.12, 0.01)
    spine_x = back - 0.06
    spine = _soft(0.03 - np.abs(_X - spine_x), 0.004) * (0.75 + 0.25 * (np.cos(np.pi * _Y / 0.047) ** 2 > 0.15))
    sternum = _soft(0.008 - np.abs(_X - front - 0.015), 0.003) * _soft(_Y - 0.16, 0.01) * _soft(0.58 - _Y, 0.01)
    hilum = np.exp(-((_X - 0.52) ** 2 + (_Y - 0.44) ** 2) / (2 * 0.04 ** 2))
    markings = _markings(_stream(seed, "markings-lateral"), 0.52, 0.44)
    air = lung * (1 - 0.8 * heart)
    extra = np.zeros((SIZE, SIZE), np.float32)
    posterior = np.clip((_X - lung_cx) / lung_ax, 0, 1)
    for name, site in findings.present.items():
        rng = _stream(seed, f"{name}/lateral")
        if name == "Pleural Effusion":
            height = 0.04 + 0.12 * site.severity
            fluid = _soft(_Y - (dome + 0.06 - height * (0.3 + 0.7 * posterior)), 0.008) * lung * _soft(
                _X - lung_cx + 0.05, 0.02)
            air *= 1 - fluid
            extra += 0.05 * fluid
        elif name in ("Lung Opacity", "Consolidation"):
            y = _zone_y(a, site.zone, dome)
            if name == "Consolidation":
                patch = _ellipse(lung_cx + rng.uniform(-0.05, 0.08), y, lung_ax * 0.45, 0.08, 0.015)
            else:
                patch = _blobs(rng, lung_cx + 0.02, y, lung_ax * 0.45, 0.05)
            patch *= lung
            air *= 1 - (0.3 + 0.3 * site.severity) * patch
            extra += (0.25 if name == "Consolidation" else 0.16) * patch
        elif name == "Atelectasis":
            for k in range(2):
                extra += 0.15 * lung * _band(dome - 0.04 - 0.03 * k + 0.05 * (_X - lung_cx), 0.006) * _soft(
                    lung_ax * 0.6 - np.abs(_X - lung_cx - 0.04), 0.01)
        elif name == "Pneumothorax":
            apex = lung * _soft(a.lung_top + 0.06 + 0.08 * site.severity - _Y, 0.01)
            markings *= 1 - apex
            extra -= 0.06 * apex
            extra += 0.12 * lung * _band(np.float32(a.lung_top + 0.06 + 0.08 * site.severity), 0.003) * _soft(
                lung_ax * 0.7 - np.abs(_X - lung_cx), 0.01)
        elif name == "Edema":
            haze = np.exp(-((_X - 0.52) / 0.16) ** 2 - ((_Y - 0.46) / 0.14) ** 2) * lung
            air *= 1 - (0.35 + 0.3 * site.severity) * haze
            extra += (0.1 + 0.08 * site.severity) * haze
            markings *= 1 - 0.5 * haze
    density = (a.tissue * body + 0.2 * heart + 0.22 * spine * body + 0.12 * sternum + 0.1 * hilum * lung
               - 0.3 * air + 0.08 * markings * air + extra)
    if "Support Devices" in findings:
        kind = findings.device
        if kind == "pacemaker":
            points = [(front + 0.06, 0.2), (0.45, 0.2), (0.48, 0.4), (front + 0.1, a.heart_cy + 0.05)]
        elif kind == "tube":
            points = [(0.5, 0.0), (0.5, 0.1), (0.51, 0.27)]
        else:
            points = [(0.48, 0.1), (0.49, 0.2), (0.47, 0.3), (0.45, 0.42)]
        device = _polyline(points)
        if kind == "pacemaker":
            device = np.maximum(device, _soft(0.02 - np.abs(_X - front - 0.06), 0.003)
                                * _soft(0.03 - np.abs(_Y - 0.2), 0.003))
        density = np.maximum(density, 0.0) + 0.45 * device
    return _finish(density, [*np.atleast_1d(seed).tolist(), 1])
