"""saematch: which features do sparse autoencoders trained with different
seeds share? Exact matching of SAE latents, fast.

    >>> import saematch as sm
    >>> row_ind, col_ind = sm.linear_sum_assignment(cost)   # SciPy drop-in
"""

from saematch.lap import linear_sum_assignment, solve_assignment, AssignmentResult

__all__ = ["linear_sum_assignment", "solve_assignment", "AssignmentResult"]
__version__ = "0.1.0"
