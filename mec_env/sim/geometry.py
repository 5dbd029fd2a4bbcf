"""The map's physics: path loss, shadowing, fading and movement, as pure vectorised functions.

SI units throughout (m, s, m/s, Hz), except where a name says dB or GHz; every function works
elementwise on numpy arrays with any leading batch axes. The components that keep per-copy
state and read the slot's uniforms (``CHANNELS["umi"]``, ``MOBILITY["random_waypoint"]``,
``MOBILITY["gauss_markov"]``) live in :mod:`mec_env.sim.components` and call these.

Sources (docs/environment.md, "The map"):

* 3GPP TR 38.901 V17.0.0, Table 7.4.1-1 (UMi - Street Canyon path loss, breakpoint distance,
  shadow fading σ), Table 7.4.2-1 (LOS probability), Table 7.5-6 part 1 (shadow fading
  correlation distances), Table 7.6.3.1-2 (LOS state correlation distance).
* Gudmundson, "Correlation model for shadow fading in mobile radio systems", Electronics
  Letters 27(23), 1991: log-normal shadowing as AR(1) over the distance moved.
* Camp, Boleng, Davies, "A survey of mobility models for ad hoc network research", WCMC 2002
  (random waypoint; Gauss-Markov after Liang and Haas, INFOCOM 1999).
"""

from __future__ import annotations

import numpy as np

SPEED_OF_LIGHT = 299_792_458.0  # m/s
#: UMi - Street Canyon (TR 38.901 Table 7.4.1-1 note / Table 7.2-3): BS antenna height, m
H_BS_M = 10.0
#: the UT height, m (1.5 m: the outdoor UT of Table 7.2-3; the formula is valid 1.5-22.5 m)
H_UT_M = 1.5
#: the effective environment height h_E for UMi, m (Table 7.4.1-1, note 1)
H_E_M = 1.0
#: the validity range of d_2D in Table 7.4.1-1, m (closer links are evaluated at 10 m)
D2D_MIN_M, D2D_MAX_M = 10.0, 5000.0
#: shadow fading σ_SF, dB (Table 7.4.1-1)
SIGMA_SF_LOS_DB, SIGMA_SF_NLOS_DB = 4.0, 7.82
#: shadow fading correlation distance, m (Table 7.5-6 part 1, UMi - Street Canyon)
SF_CORR_LOS_M, SF_CORR_NLOS_M = 10.0, 13.0
#: LOS state correlation distance, m (Table 7.6.3.1-2, UMi)
LOS_CORR_M = 50.0
#: thermal noise density at 290 K, dBm/Hz
NOISE_DENSITY_DBM_HZ = -174.0


def breakpoint_distance_m(carrier_ghz, h_bs_m=H_BS_M, h_ut_m=H_UT_M):
    """d'_BP = 4 h'_BS h'_UT f_c / c with h' = h − h_E (h_E = 1 m), f_c in Hz (Table 7.4.1-1,
    note 1). 210 m at 3.5 GHz with the default heights."""
    return 4.0 * (h_bs_m - H_E_M) * (h_ut_m - H_E_M) * carrier_ghz * 1e9 / SPEED_OF_LIGHT


def distance_3d_m(d2d_m, h_bs_m=H_BS_M, h_ut_m=H_UT_M):
    """d_3D = sqrt(d_2D² + (h_BS − h_UT)²)."""
    return np.sqrt(np.square(d2d_m) + (h_bs_m - h_ut_m) ** 2)


def umi_los_db(d2d_m, carrier_ghz, h_bs_m=H_BS_M, h_ut_m=H_UT_M):
    """UMi - Street Canyon LOS path loss, dB (Table 7.4.1-1), f_c in GHz, d in m:
    PL1 = 32.4 + 21 log10(d_3D) + 20 log10(f_c) up to d'_BP, then
    PL2 = 32.4 + 40 log10(d_3D) + 20 log10(f_c) − 9.5 log10(d'_BP² + (h_BS − h_UT)²)."""
    d2d = np.asarray(d2d_m, dtype=np.float64)
    d3d = distance_3d_m(d2d, h_bs_m, h_ut_m)
    d_bp = breakpoint_distance_m(carrier_ghz, h_bs_m, h_ut_m)
    f_term = 20.0 * np.log10(carrier_ghz)
    pl1 = 32.4 + 21.0 * np.log10(d3d) + f_term
    pl2 = 32.4 + 40.0 * np.log10(d3d) + f_term - 9.5 * np.log10(d_bp**2 + (h_bs_m - h_ut_m) ** 2)
    return np.where(d2d <= d_bp, pl1, pl2)


def umi_nlos_db(d2d_m, carrier_ghz, h_bs_m=H_BS_M, h_ut_m=H_UT_M):
    """UMi - Street Canyon NLOS path loss, dB (Table 7.4.1-1): max(PL_LOS, PL'_NLOS) with
    PL'_NLOS = 35.3 log10(d_3D) + 22.4 + 21.3 log10(f_c) − 0.3 (h_UT − 1.5)."""
    d3d = distance_3d_m(d2d_m, h_bs_m, h_ut_m)
    nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(carrier_ghz) - 0.3 * (h_ut_m - 1.5)
    return np.maximum(umi_los_db(d2d_m, carrier_ghz, h_bs_m, h_ut_m), nlos)


def umi_los_probability(d2d_m):
    """Pr_LOS (Table 7.4.2-1, UMi - Street Canyon): 1 up to 18 m, then
    18/d_2D + exp(−d_2D/36)(1 − 18/d_2D)."""
    d = np.maximum(np.asarray(d2d_m, dtype=np.float64), 18.0)
    return 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)


def noise_dbw(subchannel_bw_hz, noise_figure_db):
    """Receiver noise power in a subchannel, dBW: −174 dBm/Hz + 10 log10(W/K) + NF − 30."""
    return NOISE_DENSITY_DBM_HZ + 10.0 * np.log10(subchannel_bw_hz) + noise_figure_db - 30.0


def gain_db(path_loss_db, shadow_db, fading_power, noise_power_dbw):
    """The env's g in dB (h/σ² of eq. 5, per W of transmit power): −PL − SF + 10 log10|h|²
    − σ²_dBW, so that p g is the received SNR for p in W."""
    return -path_loss_db - shadow_db + 10.0 * np.log10(fading_power) - noise_power_dbw


def normal_pair(u1, u2):
    """Two independent standard normals from two uniforms on [0, 1) (Box-Muller):
    r = sqrt(−2 ln(1 − u1)), (r cos 2πu2, r sin 2πu2)."""
    r = np.sqrt(-2.0 * np.log1p(-u1))
    angle = 2.0 * np.pi * u2
    return r * np.cos(angle), r * np.sin(angle)


def rayleigh_power(u):
    """Small-scale Rayleigh fading power |h|² ~ Exp(1) by inversion: −ln(1 − u), floored at
    1e-12 (−120 dB) so its dB value stays finite."""
    return np.maximum(-np.log1p(-u), 1e-12)


def normal_cdf(x):
    """Φ(x) to 1.5e-7 (Abramowitz and Stegun 7.1.26 for erf), numpy only."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    a1, a2, a3, a4, a5 = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.where(x >= 0, erf, -erf))


def ar1(previous, innovation, moved_m, corr_m):
    """A unit-variance Gaussian process over the distance moved (Gudmundson): ρ x + sqrt(1 −
    ρ²) z with ρ = exp(−Δd / d_corr)."""
    rho = np.exp(-np.asarray(moved_m) / corr_m)
    return rho * previous + np.sqrt(1.0 - rho * rho) * innovation


def grid_sites(n_sites, area_m):
    """``n_sites`` positions (n, 2) on a regular grid over the area [0, W] × [0, H]: r =
    floor(sqrt(n)) rows of c = ceil(n / r) cells, each site at its cell's centre, row by row
    (the last row centred when it is short)."""
    w, h = area_m
    rows = max(1, int(np.floor(np.sqrt(n_sites))))
    cols = int(np.ceil(n_sites / rows))
    sites = []
    for r in range(rows):
        k = min(cols, n_sites - r * cols)
        for c in range(k):
            sites.append(((c + 0.5 + (cols - k) / 2) * w / cols, (r + 0.5) * h / rows))
    return np.asarray(sites, dtype=np.float64)


def reflect(x, length):
    """Fold coordinates into [0, length] by reflection at the walls; also returns whether the
    coordinate was mirrored an odd number of times (its velocity component flips)."""
    period = np.mod(x, 2.0 * length)
    flipped = period > length
    return np.where(flipped, 2.0 * length - period, period), flipped


def waypoint_step(pos, target, speed, dt):
    """One slot of straight travel toward ``target`` at ``speed`` for ``dt`` s: (new position
    (..., 2), arrived (...)); a UD closer than speed·dt stops on its waypoint."""
    delta = target - pos
    dist = np.hypot(delta[..., 0], delta[..., 1])
    step = speed * dt
    arrived = dist <= step
    scale = np.where(arrived, 1.0, step / np.where(dist > 0, dist, 1.0))
    return np.where(arrived[..., None], target, pos + delta * scale[..., None]), arrived


def gauss_markov_update(speed, direction, mean_speed, mean_direction, alpha, sigma_speed,
                        sigma_direction, z_speed, z_direction):  # fmt: skip
    """Liang-Haas / Camp et al. Gauss-Markov: s' = α s + (1 − α) s̄ + sqrt(1 − α²) σ_s z1,
    θ' = α θ + (1 − α) θ̄ + sqrt(1 − α²) σ_θ z2."""
    k = np.sqrt(1.0 - alpha * alpha)
    new_speed = alpha * speed + (1.0 - alpha) * mean_speed + k * sigma_speed * z_speed
    new_dir = alpha * direction + (1.0 - alpha) * mean_direction + k * sigma_direction * z_direction
    return new_speed, new_dir


class SiteLookup:
    """The ``k`` nearest of fixed sites (M, 2) to any point of the area, in O(k) per point
    after an O(M) table per bucket (docs/environment.md, "Reach").

    The area is cut into a grid of about ``buckets_per_site`` · M buckets. For each bucket
    the table lists the sites that can be among the k nearest of some point in it: site j
    is listed unless its least distance to the bucket exceeds the k-th smallest of the
    sites' greatest distances to it (then k sites are nearer than j from every point of the
    bucket). A query measures the squared distances to its bucket's listed sites only and
    keeps the k nearest, ties by site index: exactly the k nearest of all M sites."""

    def __init__(
        self, sites: np.ndarray, area_m: tuple[float, float], k: int, buckets_per_site: int = 4
    ) -> None:
        sites = np.asarray(sites, dtype=np.float64)
        m = sites.shape[0]
        if not 1 <= k <= m:
            raise ValueError(f"k must be in 1..{m} (the number of sites), got {k}")
        w, h = area_m
        self.k = k
        self.nx = max(1, int(np.ceil(np.sqrt(buckets_per_site * m * w / h))))
        self.ny = max(1, int(np.ceil(buckets_per_site * m / self.nx)))
        self.cell = np.array([w / self.nx, h / self.ny])
        lo = np.stack(np.meshgrid(np.arange(self.nx), np.arange(self.ny)), -1).reshape(-1, 2)
        lo = lo * self.cell  # (G, 2) each bucket's lower corner, row-major in y then x
        hi = lo + self.cell
        gap = np.maximum(np.maximum(lo[:, None] - sites, sites - hi[:, None]), 0.0)
        least = np.hypot(gap[..., 0], gap[..., 1])  # (G, M)
        span = np.maximum(np.abs(sites - lo[:, None]), np.abs(sites - hi[:, None]))
        most = np.hypot(span[..., 0], span[..., 1])
        kth = np.partition(most, k - 1, axis=1)[:, k - 1 : k]
        listed = least <= kth
        width = int(listed.sum(axis=1).max())
        #: (G, C) the listed sites of each bucket, ascending, padded with M (a site at
        #: infinity)
        self.table = np.full((lo.shape[0], width), m, dtype=np.int64)
        for g, row in enumerate(listed):
            idx = np.flatnonzero(row)
            self.table[g, : idx.size] = idx
        self.site_x = np.append(sites[:, 0], np.inf)
        self.site_y = np.append(sites[:, 1], np.inf)

    def nearest(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices (..., k) int64, distances (..., k) m) of the k nearest sites to each
        position (..., 2), nearest first (by squared distance), ties by index."""
        x, y = positions[..., 0], positions[..., 1]
        cx = np.clip((x // self.cell[0]).astype(np.int64), 0, self.nx - 1)
        cy = np.clip((y // self.cell[1]).astype(np.int64), 0, self.ny - 1)
        listed = self.table[cy * self.nx + cx]  # (..., C)
        d2 = np.square(self.site_x[listed] - x[..., None])
        d2 += np.square(self.site_y[listed] - y[..., None])
        order = np.argsort(d2, axis=-1, kind="stable")[..., : self.k]  # listed ascending: ties
        return np.take_along_axis(listed, order, -1), np.sqrt(np.take_along_axis(d2, order, -1))
