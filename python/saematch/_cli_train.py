"""``saematch train MODEL DATASET``: online training from the command line
(saematch.online), with sparsify's flag names where the meaning is the same
(``--hookpoints``, ``--init_seeds``, ``--expansion_factor``, ``-k``,
``--ctx_len``, ``--text_column``, ``--max_examples``, ``--exclude_tokens``, ``--lr``,
``--lr_warmup_steps``, ``--auxk_alpha``, ``--multi_topk``, ``--save_dir``,
``--save_every``, ``--resume``; each also with dashes). ``--batch-size``
counts tokens per step, not sparsify's sequences."""

from __future__ import annotations

import os
import warnings

from saematch import _core

# The defaults are the core's (SaeConfig, train/defaults.hpp), not restated.
_CONFIG, _TRAIN = _core.sae_config_defaults, _core.train_defaults


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train SAEs online from a model's activations at several hook points")
    t.add_argument("model", help="a local model folder (transformers), or 'minilm' for the demo's installed MiniLM")
    t.add_argument("dataset", help="a local dataset (parquet, jsonl, arrow, csv, txt; a folder of them; a "
                                   "save_to_disk folder) or a built-in corpus: stdlib-docstrings, python-docs")
    t.add_argument("--hookpoints", nargs="+", required=True,
                   help="module names of the model (patterns with * allowed), e.g. encoder.layer.2 encoder.layer.4")
    t.add_argument("--seeds", "--init-seeds", "--init_seeds", dest="seeds", nargs="+", type=int, default=[0],
                   help="one SAE per seed at every hook point, on the same batches (default 0)")
    t.add_argument("--architecture", default=_CONFIG["architecture"],
                   choices=tuple(name for name, _ in _core.architectures()), help="default %(default)s")
    t.add_argument("--expansion-factor", "--expansion_factor", dest="expansion_factor", type=int, default=32,
                   help="latents per input dimension (default 32)")
    t.add_argument("--num-latents", "--num_latents", dest="num_latents", type=int, default=0,
                   help="latents per SAE; overrides --expansion-factor when above 0")
    t.add_argument("-k", type=int, default=_CONFIG["k"],
                   help="active latents per token (topk; batchtopk on average; default %(default)s)")
    t.add_argument("--batch-size", dest="batch_size", type=int, default=_TRAIN["batch_size"],
                   help="tokens per training step (default %(default)s; sparsify's --batch_size counts sequences)")
    t.add_argument("--forward-batch-size", dest="forward_batch_size", type=int, default=8,
                   help="sequences per model forward pass (default 8)")
    t.add_argument("--ctx-len", "--ctx_len", "--context-length", dest="context_length", type=int, default=None,
                   help="tokens per sequence (default the model's maximum, at most 2048)")
    t.add_argument("--tokens", type=int, default=None, help="tokens to train on (default one pass over the dataset)")
    t.add_argument("--max-examples", "--max_examples", dest="max_examples", type=int, default=None,
                   help="use only the dataset's first this many documents")
    t.add_argument("--text-column", "--text_column", dest="text_column", default="text",
                   help="the dataset's text column (default text)")
    t.add_argument("--exclude-tokens", "--exclude_tokens", dest="exclude_tokens", nargs="*", type=int, default=None,
                   help="token ids not trained on (default the tokenizer's padding, BOS, EOS, CLS and SEP; "
                        "give none to keep all)")
    t.add_argument("--normalize-activations", dest="normalize_activations", action="store_true",
                   help="scale each hook point's activations to unit mean squared norm (stored in cfg.json)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-4 / sqrt(num_latents / 2^14))")
    t.add_argument("--lr-warmup-steps", "--lr_warmup_steps", dest="lr_warmup_steps", type=int,
                   default=_TRAIN["lr_warmup_steps"],
                   help="linear warm-up steps, at most 10%% of the run (default %(default)s)")
    t.add_argument("--auxk-alpha", "--auxk_alpha", dest="auxk_alpha", type=float,
                   default=_CONFIG["auxk_alpha"], help="weight of sparsify's AuxK loss (topk; default %(default)s)")
    t.add_argument("--multi-topk", "--multi_topk", dest="multi_topk", action="store_true",
                   help="sparsify's multi-TopK loss (topk)")
    t.add_argument("--archetypal-points", dest="archetypal_points", type=int, default=_CONFIG["archetypal_points"],
                   help="archetypal: candidate points taken from the first batch (default %(default)s)")
    t.add_argument("--archetypal-delta", dest="archetypal_delta", type=float, default=_CONFIG["archetypal_delta"],
                   help="archetypal: largest norm of each atom's relaxation, in the activations' units "
                        "(default %(default)s)")
    t.add_argument("--archetypal-init", dest="archetypal_init", choices=("kmeans", "random"),
                   default=_CONFIG["archetypal_init"],
                   help="archetypal: k-means centroids shared by every seed, or tokens drawn per seed "
                        "(default %(default)s)")
    t.add_argument("--optimizer", choices=("adam", "signum"), default="adam", help="default adam")
    t.add_argument("--save-dir", "--save_dir", dest="save_dir", default="checkpoints",
                   help="run folder: <save-dir>/<hookpoint>/seed_<s>/ (default checkpoints)")
    t.add_argument("--save-every", "--save_every", dest="save_every", type=int, default=1000,
                   help="checkpoint every this many steps (default 1000), and at the end")
    t.add_argument("--resume", action="store_true", help="continue the run in --save-dir from its checkpoints")
    t.add_argument("--device", default="cpu", help="training device (cpu, cuda; default cpu)")
    t.add_argument("--distribute-seeds", dest="distribute", action="store_const", const="seeds", default=None,
                   help="under torchrun: each process trains its share of the seeds")
    t.add_argument("--distribute-hookpoints", "--distribute_modules", dest="distribute", action="store_const",
                   const="hookpoints", help="under torchrun: each process trains its share of the hook points")
    t.add_argument("--data-parallel", "--distribute-batches", dest="distribute", action="store_const", const="data",
                   help="under torchrun: every process trains every SAE on its share of each batch's tokens, "
                        "gradients summed across processes (the default under torchrun without a --distribute-* "
                        "flag, as in sparsify)")
    t.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def run(args, bad_input) -> int:
    import saematch as sm
    from saematch import online

    try:
        model, tokenizer = online.load_model(args.model)
        hookpoints = online.resolve_hookpoints(model, args.hookpoints)
        configs = {}
        for h, width in online.hookpoint_widths(model, hookpoints).items():
            latents = args.num_latents if args.num_latents > 0 else args.expansion_factor * width
            configs[h] = sm.SAEConfig(d_in=width, num_latents=latents, k=args.k, architecture=args.architecture,
                                      auxk_alpha=args.auxk_alpha, multi_topk=args.multi_topk,
                                      archetypal_points=args.archetypal_points,
                                      archetypal_delta=args.archetypal_delta, archetypal_init=args.archetypal_init)
        options = dict(tokenizer=tokenizer, seeds=args.seeds, tokens=args.tokens, batch_size=args.batch_size,
                       context_length=args.context_length, forward_batch_size=args.forward_batch_size,
                       exclude_tokens=args.exclude_tokens, normalize_activations=args.normalize_activations,
                       text_column=args.text_column, max_examples=args.max_examples, lr=args.lr,
                       device=args.device, save_dir=args.save_dir,
                       progress=not args.quiet, save_every=args.save_every, resume=args.resume,
                       optimizer=args.optimizer, lr_warmup_steps=args.lr_warmup_steps)
        if args.distribute is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            args.distribute = "data"  # under torchrun: processes would otherwise each train the whole run
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            if args.distribute is not None:
                from saematch import distributed

                saes = distributed.train(configs, model, hookpoints, args.dataset, mode=args.distribute, **options)
            else:
                saes = online.train_online(configs, model, hookpoints, args.dataset, **options)
    except (ValueError, ImportError, FileNotFoundError) as e:
        raise bad_input(str(e)) from None
    if not args.quiet and saes is not None:
        rank = os.environ.get("RANK") if args.distribute is not None else None
        who = f"rank {rank}: " if rank is not None else ""
        for h, per_seed in saes.items():
            fvus = ", ".join(f"seed {s.seed}: {float(s.history['fvu'][-1]):.3f}" for s in per_seed)
            print(f"{who}{h}: {len(per_seed[0].history['fvu'])} steps, last FVU {fvus}")
        if rank in (None, "0"):
            first = next(iter(saes))
            print(f"saved under {args.save_dir}/<hookpoint>/seed_<s>/; compare the seeds with: "
                  f"saematch compare-many {args.save_dir}/{first}")
    return 0
