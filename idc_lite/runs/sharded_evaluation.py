"""Robustness evaluation outside the notebooks, on any number of examples, spread over processes.

    idc-lite evaluate --model runs/X/model.pt --examples 0 --out runs/X/eval-all/          # one process
    torchrun --standalone --nproc_per_node=4 -m idc_lite evaluate --model ... --out ...   # four (NCCL/gloo)

It runs notebook 04's protocols with notebook 04's settings and seeds, each one from the options, else the smoke
sizes (``--smoke``), else the run's own record of notebook 04, else the notebook's defaults
(:class:`~idc_lite.evaluation.model_evaluation.EvaluationSettings`), and writes what 04
writes: the protocol results with per-example outcomes, the other scoring rules, the sanity checks, and
the record ``OUT/metrics/04_attack.json`` that notebook 04 reads back (its ``evaluation_dir`` parameter).

The examples are cut into blocks of ``--block-size`` (:mod:`idc_lite.evaluation.sharding`): block b is
evaluated with a seed derived from the seed and b, whichever process takes it, so P processes give
exactly the per-example outcomes of one.  Process r takes blocks r, r + P, ...; each block is written
when it finishes (:mod:`idc_lite.runs.shards`), and a rerun with the same options skips finished blocks,
so a preempted job is resumed by starting it again.  Rank 0 merges the blocks, runs the sanity checks
and writes the record and ``report.md``.
"""
from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from idc_lite.evaluation.model_evaluation import AdaptiveResults, Budgets, Evaluation, EvaluationSettings
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.files import atomic_write_bytes
from idc_lite.foundation.run_metrics import AttackMetrics, AttackSettings, read_metrics, write_metrics
from idc_lite.runs import shards
from idc_lite.training import distributed

PROTOCOLS = ("adaptive", "paper", "both")


@dataclass
class EvaluationConfig:
    """What an evaluation folder holds the results of (``config.json``): a rerun must match it."""
    weights_sha256: str
    examples: int
    block_size: int
    protocol: str
    eps: float
    secondary_eps: float | None
    paper_eps: float
    paper_full_suite: bool
    seed: int
    sanity_examples: int
    smoke: bool
    settings: dict = field(default_factory=dict)
    cnn_epochs: int = 15



def weights_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers (names and bytes): the same weights give the same
    fingerprint whichever file holds them (notebook 02 saves a model given to it again, in a file of its own)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resolve_config(args: argparse.Namespace, recorded: AttackMetrics | None,
                   test_size: int) -> tuple[EvaluationConfig, EvaluationSettings]:
    """The evaluation's settings, one by one: the options, else the smoke sizes (``--smoke``), else 04's record in the
    model's run folder, else notebook 04's defaults (:class:`EvaluationSettings`)."""
    examples = test_size if args.examples == 0 else args.examples
    if not 1 <= examples <= test_size:
        raise InputError(f"--examples must be between 1 and the test set's {test_size} (0: all), got {args.examples}")
    block_size = args.block_size if args.block_size is not None else 100
    if block_size < 1:
        raise InputError(f"--block-size must be at least 1, got {block_size}")
    base = EvaluationSettings()
    if recorded:      # a record of notebook 04 keeps its suite (the cascade or not, the tail) and budgets
        rec = recorded.settings
        base = replace(base, seed=recorded.seed, sanity_examples=recorded.sanity_examples, steps=rec.steps,
                       eot_samples=rec.eot_samples, square_queries=rec.square_queries, scoring_draws=rec.scoring_draws,
                       cascade=rec.cascade, apgd_steps=rec.apgd_steps, apgd_eot=rec.apgd_eot,
                       apgd_tail_eot=rec.apgd_tail_eot, rescoring_draws=rec.rescoring_draws,
                       cnn_autoattack_queries=rec.autoattack_queries or 0, cnn_train_examples=rec.cnn_train_examples or 0,
                       eps_255=round(255 * recorded.eps, 6), secondary_eps_255=round(255 * (recorded.secondary_eps or 0), 6),
                       paper_eps_255=round(255 * recorded.paper_eps, 6))
    if args.smoke:
        base = base.smoke_sized()
    options = {"seed": args.seed, "steps": args.steps, "eot_samples": args.eot_samples,
               "square_queries": args.square_queries, "scoring_draws": args.scoring_draws,
               "sanity_examples": args.sanity_examples, "eps_255": args.eps_255,
               "secondary_eps_255": args.secondary_eps_255, "paper_eps_255": args.paper_eps_255}
    settings = replace(base, num_examples=examples, paper_full_suite=args.paper_full_suite,
                       **{k: v for k, v in options.items() if v is not None})
    for name in ("steps", "eot_samples", "square_queries", "scoring_draws"):
        if getattr(settings, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(settings, name)}")
    if settings.sanity_examples < 0:
        raise InputError(f"--sanity-examples must be 0 or more, got {settings.sanity_examples}")
    if settings.seed < 0:
        raise InputError(f"--seed must be 0 or more, got {settings.seed}")
    for name in ("eps_255", "secondary_eps_255", "paper_eps_255"):
        if not 0 <= getattr(settings, name) <= 255:
            raise InputError(f"budgets are in 1/255, between 0 and 255; got {getattr(settings, name)}")
    settings = replace(settings, sanity_examples=min(settings.sanity_examples, examples, block_size),
                       paper_eps_255=settings.paper_eps_255 or EvaluationSettings.paper_eps_255)
    secondary = settings.secondary_eps_255 / 255 or None
    config = EvaluationConfig(
        weights_sha256="", examples=examples, block_size=block_size, protocol=args.protocol,
        eps=settings.eps_255 / 255, secondary_eps=None if secondary == settings.eps_255 / 255 else secondary,
        paper_eps=settings.paper_eps_255 / 255, paper_full_suite=settings.paper_full_suite, seed=settings.seed,
        sanity_examples=settings.sanity_examples, smoke=args.smoke, cnn_epochs=settings.cnn_epochs)
    return config, settings


def run_evaluation(args: argparse.Namespace, group) -> Path:
    """Evaluate this process's blocks; on rank 0 merge them all and write the record.  Returns the folder."""
    from idc_lite.comparisons.baselines import load_or_train_cnn
    from idc_lite.evaluation.sharding import block_bounds, blocks_of_rank
    from idc_lite.foundation.machine import resolve_device
    from idc_lite.training.checkpoint import load_checkpoint_data, load_classifier

    rank, world = (group.rank, group.world_size) if group else (0, 1)
    say = print if rank == 0 else (lambda *a, **k: None)
    model_path, out = Path(args.model), Path(args.out)
    device = group.device if group else resolve_device(args.device)
    model = load_classifier(model_path).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    data = load_checkpoint_data(model_path)
    recorded = read_metrics(model_path.parent).attack
    config, settings = resolve_config(args, recorded, len(data.y_test))
    config.weights_sha256 = weights_fingerprint(model)
    model.to(device)     # noise is drawn on the CPU and moved, so a GPU sees the numbers the CPU sees
    x, labels = data.x_test[:config.examples].to(device), data.y_test[:config.examples].to(device)
    attacker = model.gradient_twin(settings.gradient_precision)
    cnn_data = data.first_training_examples(settings.cnn_train_examples)
    attack = settings.attack_settings("bf16" if attacker.unet_autocast is not None else "fp32",   # 'auto' resolved
                                      cnn_train_examples=len(cnn_data.y_train))
    if recorded:      # AutoAttack standard's iterations as 04 ran them (notebook 05 attacks the CNNs with its settings)
        attack = replace(attack, autoattack_iterations=recorded.settings.autoattack_iterations)
    config.settings = asdict(attack)
    if rank != 0:
        distributed.barrier()            # rank 0 trains the CNN (when the run folder has none) before the others load it
    cnn, cnn_file = load_or_train_cnn(model_path.parent / "cnn.pt", cnn_data, epochs=config.cnn_epochs,
                                      seed=config.seed, progress=rank == 0)
    if rank == 0:
        distributed.barrier()
    cnn.to(device)
    for p in cnn.parameters():
        p.requires_grad_(False)
    budgets = Evaluation(model, attacker, x, labels, settings, attack).main_budget(cnn, x[:100])
    budgets.choice = recorded.budget_choice if recorded and args.eps_255 is None else budgets.choice
    config.eps, config.secondary_eps = budgets.eps, budgets.secondary_eps   # the main budget chosen, as evaluated
    bounds = block_bounds(config.examples, config.block_size)
    resumed = shards.check_folder(out, asdict(config))   # every process, before anyone writes: all stop on a mismatch
    distributed.barrier()
    if rank == 0:
        shards.claim_folder(out, asdict(config))
        say(f"{'resuming' if resumed else 'evaluating'} {config.examples} examples in {len(bounds)} block(s) of "
            f"{config.block_size} on {world} process(es): {config.protocol} protocol at {255 * config.eps:g}/255 -> {out}")
    distributed.barrier()
    for block in blocks_of_rank(len(bounds), rank, world):
        if shards.read_block(out, block) is not None:
            print(f"[rank {rank}] block {block}: finished earlier, kept")
            continue
        t0 = time.perf_counter()
        _evaluate_block(model, attacker, cnn, x, labels, bounds[block], block, config, settings, attack, budgets, out)
        print(f"[rank {rank}] block {block} (examples {bounds[block][0]}-{bounds[block][1] - 1}): "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    distributed.barrier()
    if rank == 0:
        _merge_and_report(Evaluation(model, attacker, x, labels, settings, attack), cnn, data, config, budgets, out,
                          len(bounds), model_path=model_path, cnn_name=cnn_file.path.name, world=world,
                          backend=group.backend if group else None)
    return out


def _evaluate_block(model, attacker, cnn, x, labels, bounds: tuple[int, int], block: int, config: EvaluationConfig,
                    settings: EvaluationSettings, attack: AttackSettings, budgets: Budgets, out: Path) -> None:
    """Notebook 04's protocols on one block, seeded by block (idc_lite.evaluation.sharding), written to ``out``."""
    from idc_lite.evaluation.sharding import block_seed

    seed = block_seed(config.seed, block)
    evaluation = Evaluation(model, attacker, x[bounds[0]:bounds[1]], labels[bounds[0]:bounds[1]],
                            replace(settings, seed=seed), attack)
    evaluation.budgets = budgets
    results, rules, tensors, breaks = {}, [], {"worst": None, "by_attack": {}}, None
    started = time.perf_counter()
    if config.protocol in ("paper", "both"):
        results.update({f"paper@{255 * b:.0f}": r for b, r in evaluation.paper_protocols().items()})
    if config.protocol in ("adaptive", "both"):
        adaptive = evaluation.adaptive_protocols(cnn)
        results["adaptive"] = adaptive.main
        if adaptive.secondary:
            results["adaptive_secondary"] = adaptive.secondary
        rules = adaptive.other_rules
        if config.sanity_examples:   # judged here, where every attack's images are at hand
            breaks = evaluation.challenger_breaks()
        tensors = shards.adversarial_tensors(evaluation.adversarial, evaluation.worst_adversarial(),
                                             every_attack=block == 0)
    shards.write_block(out, block, {"start": bounds[0], "stop": bounds[1], "seed": seed, "results": results,
                                    "other_scoring_rules": rules, "challenger_breaks": breaks,
                                    "seconds": round(time.perf_counter() - started, 2)},
                       tensors)


def _merge_and_report(evaluation: Evaluation, cnn, data, config: EvaluationConfig, budgets: Budgets, out: Path,
                      num_blocks: int, *, model_path: Path, cnn_name: str, world: int, backend) -> AttackMetrics:
    """Rank 0: every block's results merged into ``evaluation``, its sanity checks, the record, the examples and
    report.md."""
    from idc_lite.comparisons.baselines import prediction_cost
    from idc_lite.evaluation.examples import save_examples
    from idc_lite.evaluation.sharding import merge_results, merge_scoring_rules
    from idc_lite.foundation.files import atomic_save

    blocks = [shards.read_block(out, b, with_tensors=True) for b in range(num_blocks)]
    missing = [b for b, found in enumerate(blocks) if found is None]
    if missing:
        raise InputError(f"blocks {missing} of {out} have not finished; run the same command again to evaluate them")
    records = [record for record, _ in blocks]
    merged = {key: merge_results([r["results"][key] for r in records], seed=config.seed, block_size=config.block_size)
              for key in records[0]["results"]}
    evaluation.budgets = budgets
    evaluation.paper = {b: merged[f"paper@{255 * b:.0f}"] for b in budgets.all if f"paper@{255 * b:.0f}" in merged}
    if "adaptive" in merged:
        rules = merge_scoring_rules([r["other_scoring_rules"] for r in records], [r["stop"] - r["start"] for r in records])
        evaluation.adaptive = AdaptiveResults(merged["adaptive"], merged.get("adaptive_secondary"), rules)
        worst = torch.cat([t["worst"] for _, t in blocks])
        atomic_save(worst, out / "worst_adversarial.pt")
        evaluation.adversarial = blocks[0][1]["by_attack"]
        if config.sanity_examples:
            t0 = time.perf_counter()
            breaks = _joined_challenger_breaks(records, out) if merged["adaptive"].get("cascade") else None
            evaluation.sanity_checks(cnn, data.num_classes, challenger_breaks=breaks)
            print(f"sanity checks: {time.perf_counter() - t0:.0f} s")
    examples_path = save_examples(out / "eval_examples.pt", evaluation.x, evaluation.labels, split="test",
                                  first=config.examples, data=data.info)
    metrics = evaluation.metrics(
        cost=prediction_cost(evaluation.model, data.image_shape), cnn_file=cnn_name, model=str(model_path),
        examples_file=examples_path.name,
        evaluation={"block_size": config.block_size, "blocks": num_blocks, "processes": world, "backend": backend,
                    "protocol": config.protocol, "weights_sha256": config.weights_sha256,
                    "seconds_in_blocks": round(sum(r["seconds"] for r in records), 1)})
    write_metrics(out, metrics)
    report = evaluation_report(metrics)
    atomic_write_bytes(out / "report.md", lambda handle: handle.write(report.encode()))
    print(report)
    return metrics


def _joined_challenger_breaks(records: list[dict], out: Path) -> dict:
    """{check: the challengers' breaks over all blocks}, from what each block judged on its own images."""
    from idc_lite.evaluation.cascade_checks import join_challenger_breaks

    stale = [b for b, r in enumerate(records) if not r.get("challenger_breaks")]
    if stale:        # shards.check_folder refuses earlier formats before any work; this guards the merge itself
        raise InputError(f"blocks {stale} of {out} hold no challenger checks of their own; they are kept: evaluate "
                         "into a new folder (--out)")
    return {check: join_challenger_breaks([(r["start"], r["challenger_breaks"][check]) for r in records])
            for check in records[0]["challenger_breaks"]}


def evaluation_report(metrics: AttackMetrics) -> str:
    """report.md: each protocol's attack table (accuracies with 95 % intervals and n), the sanity checks."""
    from idc_lite.evaluation.protocol import attack_table
    from idc_lite.evaluation.sanity import summary_rows
    from idc_lite.figures.plots import table_markdown

    how = metrics.evaluation or {}
    parts = [f"# Robustness evaluation: {metrics.num_examples} test examples\n",
             f"Seed {metrics.seed}; blocks of {how.get('block_size')} examples ({how.get('blocks')} blocks) on "
             f"{how.get('processes')} process(es); model weights sha256 {str(how.get('weights_sha256'))[:12]}.  Attack settings: "
             + ", ".join(f"{k} {v}" for k, v in asdict(metrics.settings).items()) + ".\n"]
    protocols = {**metrics.paper_protocol}
    if metrics.adaptive_protocol:
        protocols[f"adaptive@{255 * metrics.eps:.0f}"] = metrics.adaptive_protocol
    if metrics.adaptive_protocol_secondary:
        protocols[f"adaptive@{255 * metrics.secondary_eps:.0f}"] = metrics.adaptive_protocol_secondary
    for key, result in protocols.items():
        scoring = "one draw, clean and adversarial (the authors' count)" if key.startswith("paper") else \
            f"one-draw accuracy averaged over {result['draws']} draws"
        parts.append(table_markdown(attack_table(result), title=f"{key} (/255), n = {result['examples']}, {scoring}"))
    if metrics.sanity_checks:
        parts.append(table_markdown(summary_rows(metrics.sanity_checks),
                                    title=f"sanity checks (costlier ones on the first {metrics.sanity_examples} examples)"))
    return "\n\n".join(parts) + "\n"


# ---- reading a finished evaluation (notebook 04's evaluation_dir) ------------------------------------
@dataclass
class FinishedEvaluation:
    """What ``idc-lite evaluate`` wrote to ``folder``: its record, the evaluated examples x (N, C, H, W) in
    [0, 1] and labels (N,), the worst case's adversarial examples (N, C, H, W), and block 0's adversarial
    examples by attack (what the sanity checks start from)."""
    folder: Path
    metrics: AttackMetrics
    x: torch.Tensor
    labels: torch.Tensor
    worst_adversarial: torch.Tensor
    adversarial: dict


def read_evaluation(folder: str | Path, model_path: str | Path) -> FinishedEvaluation:
    """The finished evaluation in ``folder``, checked to be of the model in ``model_path`` and of both protocols."""
    from idc_lite.evaluation.examples import load_examples
    from idc_lite.foundation.errors import MissingArtifactError
    from idc_lite.foundation.files import read_torch_file

    folder = Path(folder)
    metrics = read_metrics(folder).attack
    if metrics is None or not metrics.evaluation:
        held = len(list((folder / "blocks").glob("block-*.json"))) if (folder / "blocks").is_dir() else 0
        raise MissingArtifactError(f"{folder} holds no finished evaluation ({held} block(s) written): run "
                                   "idc-lite evaluate --out with that folder, or again to finish it")
    from idc_lite.training.checkpoint import load_classifier

    if metrics.evaluation.get("weights_sha256") != weights_fingerprint(load_classifier(model_path)):
        raise InputError(f"{folder} evaluated another model than {model_path} (sha256 "
                         f"{str(metrics.evaluation.get('weights_sha256'))[:12]}...): evaluate this run's model")
    if metrics.evaluation.get("protocol") != "both":
        raise InputError(f"{folder} ran the {metrics.evaluation.get('protocol')} protocol only; notebook 04 compares "
                         "both: evaluate with --protocol both")
    x, labels = load_examples(folder / metrics.examples_file)
    blocks = read_torch_file(shards.block_paths(folder, 0)[1])
    return FinishedEvaluation(folder, metrics, x, labels, read_torch_file(folder / "worst_adversarial.pt"),
                              blocks["by_attack"])


def begin_evaluation(evaluation_dir: str | Path, model_path: str | Path, model, attacker, data,
                     settings: EvaluationSettings, attack: AttackSettings) -> Evaluation:
    """Notebook 04's evaluation: the finished ``idc-lite evaluate`` in ``evaluation_dir`` (its examples, settings and
    results answer every step), else a fresh one of the first ``settings.num_examples`` test images."""
    if evaluation_dir:
        done = read_evaluation(evaluation_dir, model_path)
        return Evaluation.recorded(model, attacker, done.metrics, done.x, done.labels, done.worst_adversarial,
                                   done.adversarial)
    return Evaluation(model, attacker, data.x_test[:settings.num_examples], data.y_test[:settings.num_examples],
                      settings, attack)
