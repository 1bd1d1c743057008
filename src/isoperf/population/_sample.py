"""Draw a population: covariates (Gaussian copula, optional truncation) and log-normal IIV factors.

Every draw comes from :func:`counter_normals` keyed by (seed, patient index, variable name), so patient
``i`` is the same whatever the population size, the chunking or the number of workers, and adding a
variable does not change the draws of the others (the correlation is applied after the draw).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from isoperf._errors import InputError
from isoperf._units import parse_quantity
from isoperf.population._rng import counter_normals
from isoperf.population._spec import CovariateSpec, PopulationSpec

#: covariate -> kind of quantity (for unit parsing) and the Patient field it sets
COVARIATE_KINDS = {
    "weight": "body_mass",
    "height": "length",
    "age": "age",
    "tumour_fraction": "fraction",
    "tumour_volume": "volume",
}


@dataclass
class Sample:
    """Draws for the patients ``index``: covariates (arrays; ``sex`` as 'male'/'female') and IIV factors."""

    index: np.ndarray
    covariates: dict[str, np.ndarray]
    factors: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.index.size)


def _q(value: str | float | None, kind: str, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return parse_quantity(value, kind, field=field, allow_negative=False)


def _need(value: float | None, field: str, what: str) -> float:
    if value is None:
        raise InputError(field, "is missing", f"a {what} distribution needs it")
    return value


def _covariate(name: str, spec: CovariateSpec, z: np.ndarray) -> np.ndarray:
    kind = COVARIATE_KINDS[name]
    where = f"population.covariates.{name}"
    lo = _q(spec.min, kind, f"{where}.min")
    hi = _q(spec.max, kind, f"{where}.max")
    if spec.distribution == "fixed":
        return np.full(z.shape, _need(_q(spec.value, kind, f"{where}.value"), f"{where}.value", "fixed"))
    if spec.distribution == "uniform":
        lo, hi = _need(lo, f"{where}.min", "uniform"), _need(hi, f"{where}.max", "uniform")
        if not hi > lo:
            raise InputError(f"{where}.max", f"{hi:g} is not above min {lo:g}", "give max > min")
        return lo + ndtr(z) * (hi - lo)
    if spec.distribution == "normal":
        loc = _need(_q(spec.mean, kind, f"{where}.mean"), f"{where}.mean", "normal")
        scale = _need(_q(spec.sd, kind, f"{where}.sd"), f"{where}.sd", "normal")
        to_x = lambda u: loc + scale * u  # noqa: E731
        a = -np.inf if lo is None else (lo - loc) / scale
        b = np.inf if hi is None else (hi - loc) / scale
    else:
        med = _need(_q(spec.median, kind, f"{where}.median"), f"{where}.median", "lognormal")
        if spec.cv is None:
            raise InputError(f"{where}.cv", "is missing", "a lognormal distribution needs cv (e.g. 0.3)")
        if not med > 0:
            raise InputError(f"{where}.median", f"got {med!r}", "a lognormal median must be > 0")
        omega = math.sqrt(math.log1p(spec.cv**2))
        to_x = lambda u: med * np.exp(omega * u)  # noqa: E731
        a = -np.inf if lo is None or lo <= 0 else math.log(lo / med) / omega
        b = np.inf if hi is None else math.log(hi / med) / omega
    if lo is not None and hi is not None and not hi > lo:
        raise InputError(f"{where}.max", f"{hi:g} is not above min {lo:g}", "give max > min")
    if np.isfinite(a) or np.isfinite(b):  # truncation by inverse CDF keeps the copula (and determinism)
        pa, pb = float(ndtr(a)), float(ndtr(b))
        u = ndtri(pa + ndtr(z) * (pb - pa))
        return to_x(u)
    return to_x(z)


def _correlate(names: list[str], pairs: dict[str, float], field: str) -> np.ndarray:
    """Cholesky factor of the correlation matrix given as {"a:b": r} pairs over ``names``."""
    c = np.eye(len(names))
    for key, r in pairs.items():
        parts = [p.strip() for p in key.split(":")]
        if len(parts) != 2 or parts[0] not in names or parts[1] not in names or parts[0] == parts[1]:
            raise InputError(f"{field}.{key}", "is not a pair of two different variables of this population",
                             f"write 'a:b' with a, b among {', '.join(names)}")
        if not -1 < r < 1:
            raise InputError(f"{field}.{key}", f"got {r!r}", "a correlation lies strictly between -1 and 1")
        i, j = names.index(parts[0]), names.index(parts[1])
        c[i, j] = c[j, i] = r
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        raise InputError(field, "the correlations are not positive definite",
                         "lower some correlations so the matrix is a valid correlation matrix") from None


def sample_population(spec: PopulationSpec, index: np.ndarray) -> Sample:
    """Draw covariates and IIV factors for the patients ``index`` (0-based integers)."""
    index = np.asarray(index, dtype=np.int64)
    cov = spec.covariates
    cnames = [n for n in ("weight", "height", "age", "sex", "tumour_fraction", "tumour_volume")
              if getattr(cov, n) is not None]
    if cov.tumour_fraction is not None and cov.tumour_volume is not None:
        raise InputError("population.covariates.tumour_volume", "given together with tumour_fraction",
                         "give one of them")
    covs: dict[str, np.ndarray] = {}
    if cnames:
        z = counter_normals(spec.seed, index, [f"covariate:{n}" for n in cnames])
        if cov.correlation:
            z = z @ _correlate(cnames, cov.correlation, "population.covariates.correlation").T
        for k, n in enumerate(cnames):
            if n == "sex":
                # the latent normal of sex points towards female: 'sex:height' = -0.6 makes women shorter
                female = ndtr(-z[:, k]) < cov.sex.female  # type: ignore[union-attr]
                covs["sex"] = np.where(female, "female", "male")
            else:
                covs[n] = _covariate(n, getattr(cov, n), z[:, k])
    elif cov.correlation:
        raise InputError("population.covariates.correlation", "given without covariates", "add covariates")
    factors: dict[str, np.ndarray] = {}
    inames = list(spec.iiv)
    if inames:
        eta = counter_normals(spec.seed, index, [f"iiv:{n}" for n in inames])
        if spec.iiv_correlation:
            eta = eta @ _correlate(inames, spec.iiv_correlation, "population.iiv_correlation").T
        for k, n in enumerate(inames):
            omega = math.sqrt(math.log1p(spec.iiv[n].cv ** 2))
            factors[n] = np.exp(omega * eta[:, k])
    elif spec.iiv_correlation:
        raise InputError("population.iiv_correlation", "given without iiv", "add [population.iiv] entries")
    return Sample(index, covs, factors)
