"""Reading SAE folders without torch -- saematch's, sparsify's and SAELens's
-- for the comparison and the command line as much as for loading SAEs.
(:func:`saematch.load` builds torch SAEs on top of these.)"""

from __future__ import annotations

from saematch import _core, _run_folders


def encoder_of(parameters: dict):
    """The (num_latents, d_in) encoder among an SAE's named parameters:
    sparsify's ``encoder.weight`` or SAELens's ``W_enc`` (rows per latent in
    memory); None when there is neither."""
    return parameters.get("encoder.weight", parameters.get("W_enc"))


def read_folder(path):
    """(SAEConfig, {name: float32 array}, metadata) of one SAE folder --
    saematch's, sparsify's or SAELens's -- without torch."""
    import json

    from saematch.training import SAEConfig  # here: training re-exports this module

    try:
        config_text, params, metadata = _core.read_sae_folder(str(path))
    except Exception as e:  # noqa: BLE001 - the compiled reader names the file and the problem
        raise ValueError(str(e)) from None
    return SAEConfig(**json.loads(config_text)), params, metadata


def sae_folders(path):
    """The SAE folders at ``path``: itself when it holds a cfg.json, else its
    sub-folders that do (a sparsify run's hook points, a run's seeds:
    ``seed_<s>`` or sparsify's ``seed<k>``), or the seeds of a sparsify run's
    one hook point (``<run>/<hook>/seed<k>``), in natural order."""
    return _run_folders.flat(path)


__all__ = ["encoder_of", "read_folder", "sae_folders"]
