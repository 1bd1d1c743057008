"""Virtual populations: covariates, inter-individual variability, batched solvers, chunked/Dask runs."""

from isoperf.population._batch import BatchArray, BranchDivergence, build_batch, stack_models, unstack_model
from isoperf.population._result import PopulationResult
from isoperf.population._rng import counter_normals, counter_uniforms
from isoperf.population._run import DrugOutcome, solve_drug
from isoperf.population._sample import Sample, sample_population
from isoperf.population._simulate import run_chunk, simulate_population
from isoperf.population._spec import PopulationSpec, load_population, parse_population

__all__ = [
    "BatchArray",
    "BranchDivergence",
    "DrugOutcome",
    "PopulationResult",
    "PopulationSpec",
    "Sample",
    "build_batch",
    "counter_normals",
    "counter_uniforms",
    "load_population",
    "parse_population",
    "run_chunk",
    "sample_population",
    "simulate_population",
    "solve_drug",
    "stack_models",
    "unstack_model",
]
