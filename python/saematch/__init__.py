"""saematch: which features do sparse autoencoders trained with different
seeds share? Exact matching of SAE latents, fast.

    >>> import saematch as sm
    >>> report = sm.compare((enc_a, dec_a), (enc_b, dec_b))     # two SAEs
    >>> report.shared_fraction, report.summary()
    >>> many = sm.compare_many(saes)                             # N seeds
    >>> row_ind, col_ind = sm.linear_sum_assignment(cost)       # SciPy drop-in
    >>> saes = sm.train(sm.SAEConfig(d_in=768, num_latents=16384), acts, seeds=[0, 1, 2])
    >>> sm.report(many, saes, activations="acts/", out="report/")  # an HTML browser of the latents
"""

from saematch import collect, plot, synthetic
from saematch.consensus import Consensus, consensus
from saematch.compare import ManyReport, OrientationWarning, PairReport, compare, compare_many, directions
from saematch.lap import AssignmentResult, linear_sum_assignment, solve_assignment
from saematch.seed_stability import Stability, stability
from saematch.subspaces import SubspaceOverlap, subspace_overlap
from saematch.training import SAE, SAEConfig, load, train
from saematch.viewer import report

__all__ = [
    "compare",
    "compare_many",
    "directions",
    "PairReport",
    "ManyReport",
    "OrientationWarning",
    "linear_sum_assignment",
    "solve_assignment",
    "AssignmentResult",
    "plot",
    "collect",
    "synthetic",
    "SAEConfig",
    "SAE",
    "train",
    "load",
    "stability",
    "Stability",
    "subspace_overlap",
    "SubspaceOverlap",
    "consensus",
    "Consensus",
    "report",
]
__version__ = "0.1.0"
