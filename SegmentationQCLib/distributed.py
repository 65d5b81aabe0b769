"""``segqc batch --scheduler``: the batch's cases as tasks on a Dask cluster.

Dask (``dask.distributed``) is the engine: it schedules, balances and retries work on one
machine or on a cluster (SSH, Kubernetes, SLURM/PBS through dask-jobqueue), so a cohort of
100,000 scans needs no scheduler of ours. Each worker loads the model pack once and runs
``batch.check_rows`` on a task's rows (one row, or the rows sharing files: the frames of a cine
file, read once; ``batch.file_groups``); the client writes ``results.csv`` as results arrive.
Workers write ``cases/<case>.json`` themselves, so on a cluster the output folder and the
images must be on a filesystem every worker sees.
"""
from __future__ import annotations

import threading
from itertools import islice
from pathlib import Path

from .errors import InputError

WINDOW = 1000  # tasks submitted and not yet done, at least (``map_rows``)
_engines: dict = {}
_lock = threading.Lock()


def _check_on_worker(rows: list[dict], engine_args: tuple, class_values: dict | None, out_dir: str,
                     flagging: dict) -> list[dict]:
    """Runs on a worker: manifest rows in turn, with that worker's engine (loaded on first use)."""
    from .batch import check_rows
    from .qc import QCEngine

    with _lock:
        if engine_args not in _engines:
            pack, device, methods, precision = engine_args
            _engines[engine_args] = QCEngine(pack, device, list(methods) if methods else None, precision)
    return list(check_rows(rows, _engines[engine_args], class_values, Path(out_dir), flagging))


def connect(scheduler: str):
    """A Dask client: ``local`` or ``local:N`` starts N worker processes here (default: one per
    core, one thread each); anything else is a scheduler address (``tcp://host:8786``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--scheduler needs Dask: pip install 'dask[distributed]'") from None
    if scheduler == "local" or scheduler.startswith("local:"):
        n = scheduler.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise InputError(f"--scheduler {scheduler}: write local or local:N with N a number of workers, 1 or more")
        return Client(LocalCluster(n_workers=int(n) if n else None, threads_per_worker=1))
    try:
        return Client(scheduler, timeout=30)
    except (OSError, TimeoutError) as e:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None


def map_rows(client, rows: list[dict], engine_args: tuple, class_values: dict | None, out_dir: Path, flagging: dict):
    """Yield each row's results.csv row as its task finishes; a lost task's rows become error rows.
    At most ``WINDOW`` tasks (or 4 per worker thread, if more) are submitted and not yet done: with
    a cohort's 100,000 tasks submitted at once, the client lost its scheduler (every row an error)."""
    from distributed import as_completed

    from .batch import file_groups

    groups = enumerate(file_groups(rows))
    futures: dict = {}

    def submit(n: int) -> list:
        """The futures of the next ``n`` groups (fewer at the end), submitted."""
        new = []
        for i, group in islice(groups, n):
            new.append(client.submit(_check_on_worker, group, engine_args, class_values, str(out_dir), flagging,
                                     key=f"segqc-{i}-{group[0]['case']}", pure=False))
            futures[new[-1]] = group
        return new

    done = as_completed(submit(max(WINDOW, 4 * sum(client.nthreads().values()))))
    for fut in done:
        group = futures.pop(fut)
        done.update(submit(1))
        try:
            yield from fut.result()
        except Exception as e:  # the worker died or the task could not run: the batch goes on
            for row in group:
                yield {"case": row["case"], "status": "error",
                       "message": f"task failed on the cluster: {type(e).__name__}: {e}"}
        fut.release()
