"""Counter-based random numbers: patient ``i``'s draws depend only on ``(seed, i, variable name)``.

Each draw is a SplitMix64 hash of the counter ``(seed, patient index, variable key)`` (Steele, Lea & Flood,
"Fast splittable pseudorandom number generators", OOPSLA 2014), turned into a uniform in (0, 1) from its
53 high bits and into a standard normal by the inverse normal CDF. No generator state is carried between
patients, so a patient is the same whatever the population size, chunk size, thread or worker count.
"""

from __future__ import annotations

import zlib

import numba as nb
import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (a bijection on uint64; arrays wrap modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def variable_key(name: str) -> int:
    """A stable 32-bit key for a variable name (CRC-32; the same in every process and Python version)."""
    return zlib.crc32(name.encode("utf-8"))


def counter_uniforms(seed: int, index: np.ndarray, key: int) -> np.ndarray:
    """Uniforms in the open interval (0, 1), one per entry of ``index``."""
    with np.errstate(over="ignore"):
        idx = np.asarray(index, dtype=np.uint64)
        # the stream of (seed, key): the same for every patient, so hashed once (a one-element array: wraps)
        s = _mix(np.full(1, np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) + _GOLDEN)
        s = _mix(s ^ (np.uint64(key) * _GOLDEN))
    return _uniforms(s[0], idx.reshape(-1)).reshape(idx.shape)


@nb.njit(cache=True)
def _uniforms(s: np.uint64, idx: np.ndarray) -> np.ndarray:
    """``_mix(s + (idx + 1) * golden)`` per patient and its 53 high bits as a uniform, in one pass (the same integer
    arithmetic, modulo 2**64, as the numpy expression it replaces: bit-identical, ~2.5x faster)."""
    out = np.empty(idx.size)
    g = np.uint64(0x9E3779B97F4A7C15)
    m1 = np.uint64(0xBF58476D1CE4E5B9)
    m2 = np.uint64(0x94D049BB133111EB)
    for i in range(idx.size):
        z = s + (idx[i] + np.uint64(1)) * g
        z = (z ^ (z >> np.uint64(30))) * m1
        z = (z ^ (z >> np.uint64(27))) * m2
        z = z ^ (z >> np.uint64(31))
        out[i] = (np.float64(z >> np.uint64(11)) + 0.5) * 2.0**-53
    return out


def counter_normals(seed: int, index: np.ndarray, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """Independent standard normals, shape ``(len(index), len(names))``; column ``k`` is keyed by ``names[k]``."""
    index = np.asarray(index)
    out = np.empty((index.size, len(names)))
    for k, name in enumerate(names):
        out[:, k] = ndtri(counter_uniforms(seed, index, variable_key(name)))
    return out
