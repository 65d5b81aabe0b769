"""The training loop every QC model shares: AdamW + one-cycle, resumable checkpoints, a log.

``OUT/last.pt`` is written every ``every`` steps (resumed from on restart), ``OUT/best.pt``
holds the weights with the best validation score, ``OUT/log.jsonl`` one line per evaluation.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def training_args(doc: str, run: str, steps: int, batch: int, lr: float) -> argparse.ArgumentParser:
    """The options every training script has: data, output folder, steps, batch, lr, seed."""
    here = Path(__file__).parent
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=here / "runs" / "qcset", help="the QC set (qcset.py)")
    ap.add_argument("--out", type=Path, default=here / "runs" / run)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", type=Path, help="start from these weights (fine-tuning)")
    return ap


def add_phantom_guard(ap: argparse.ArgumentParser) -> None:
    """``--phantom-guard``, for the networks the pack's default method runs."""
    ap.add_argument("--phantom-guard", action="store_true",
                    help="only checkpoints that pass phantom_check.py become best.pt (about 1 s per evaluation)")


def phantom_guard(a: argparse.Namespace, model: str):
    """``phantom_check.guard`` of the pack's ``model`` (its architecture from the run's options ``a``) if
    ``--phantom-guard`` was given, else None."""
    if not a.phantom_guard:
        return None
    import phantom_check  # late: it loads make_pack and the engine
    return phantom_check.guard(model, vars(a))


def fit(model: torch.nn.Module, out: Path, steps: int, lr: float, seed: int,
        train_loss: Callable[[torch.nn.Module, np.random.Generator], torch.Tensor],
        evaluate: Callable[[torch.nn.Module], dict], score: str, higher_is_better: bool, every: int = 250,
        init: Path | None = None, guard: Callable[[torch.nn.Module], dict] | None = None) -> None:
    """Train ``model`` for ``steps`` (from ``init`` weights if given, unless resuming). The best
    evaluation's weights go to ``best.pt``; with a ``guard``, only of checkpoints whose guard
    result has ``passed`` (e.g. ``phantom_check.guard``), logged beside the evaluation."""
    out.mkdir(parents=True, exist_ok=True)
    if init and not (out / "last.pt").exists():
        model.load_state_dict(torch.load(init, map_location=next(model.parameters()).device, weights_only=True))
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.05)
    sign = 1 if higher_is_better else -1
    step, best, rng = 0, -np.inf, np.random.default_rng(seed)
    if (out / "last.pt").exists():
        ck = torch.load(out / "last.pt", weights_only=False)
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        step, best, rng = ck["step"], ck["best"], ck["rng"]
        print(f"resumed at step {step}", flush=True)
    t0, run = time.time(), []
    while step < steps:
        model.train()
        loss = train_loss(model, rng)
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        step += 1
        run.append(loss.item())
        if step % every == 0 or step == steps:
            with torch.no_grad():
                model.eval()
                ev = evaluate(model)
                checked = guard(model) if guard else {"passed": True}
            if sign * ev[score] > best and checked["passed"]:
                best = sign * ev[score]
                torch.save({k: v.cpu() for k, v in model.state_dict().items()}, out / "best.pt")  # loads without a GPU
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step, "best": best, "rng": rng}, out / "last.pt")
            line = {"step": step, "loss": float(np.mean(run)), "val": ev, **({"guard": checked} if guard else {}),
                    "minutes": round((time.time() - t0) / 60, 2)}
            print(json.dumps(line), flush=True)
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(line) + "\n")
            run = []
    if guard and not (out / "best.pt").exists():
        print(f"no checkpoint passed the guard: {out} has no best.pt", flush=True)
