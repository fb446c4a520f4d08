# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Process SUT: serving a SUT from worker processes
#
# A support notebook (`tinybench.procsut`), taught in module 02 (section 9, threads or processes).
# The runner's workers are threads: right for a SUT that spends its time where the GIL is released
# (torch kernels, numpy, I/O), wrong for one that spends it in Python bytecode, where only one
# thread runs at a time. `ProcessSUT(factory, processes=n)` runs `n` copies of the SUT in worker
# processes, each built there by calling `factory()`; each call sends the batch through a pipe to a
# free process and waits for its outputs, so the runner's threads only dispatch, and the latency
# they record includes the real cost of moving the batch and the outputs between processes.
#
# `multiprocessing`'s spawn start method starts each worker as a new interpreter that imports its
# code, so the factory must be importable (a class or a module-level function), and the demos below
# use the installed package's `ProcessSUT`, not the one this notebook defines in `__main__`.

# %%
#| default_exp procsut

# %%
#| export
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

import numpy as np

from tinybench.checks import check_number

# %%
import pickle
import time

import torch

# %% [markdown]
# ## 1. Moving tensors between processes
#
# A batch and its outputs travel through a pipe, pickled. Torch tensors pickled as they are cost
# more than they should (each one is serialised like `torch.save`, tens of microseconds apiece), so
# CPU tensors travel as numpy arrays instead (pickle protocol 5, one copy) and are turned back into
# tensors on the other side.

# %%
#| export
class _WireTensor:
    "A CPU torch tensor in transit between processes, as a numpy array (cheap to pickle)."
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __getstate__(self) -> np.ndarray:
        return self.array

    def __setstate__(self, array: np.ndarray) -> None:
        self.array = array


def _pack(obj: Any) -> Any:
    "Replace CPU torch tensors (also inside lists and tuples) by _WireTensor; everything else as is."
    if type(obj).__module__.startswith("torch") and getattr(getattr(obj, "device", None), "type", None) == "cpu":
        try:
            return _WireTensor(obj.detach().numpy())
        except (TypeError, RuntimeError):  # a dtype numpy lacks (bfloat16): pickle the tensor itself
            return obj
    if isinstance(obj, list):
        return [_pack(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_pack(o) for o in obj)
    return obj


def _unpack(obj: Any) -> Any:
    "Inverse of _pack."
    if isinstance(obj, _WireTensor):
        import torch
        return torch.from_numpy(obj.array)
    if isinstance(obj, list):
        return [_unpack(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_unpack(o) for o in obj)
    return obj

# %%
batch = [torch.randn(1, 8, 8) for _ in range(64)]
back = _unpack(pickle.loads(pickle.dumps(_pack(batch), protocol=5)))
assert all(torch.equal(a, b) for a, b in zip(batch, back)) and isinstance(back[0], torch.Tensor)
assert _pack((1, "a")) == (1, "a") and _pack(torch.ones(2, dtype=torch.bfloat16)).dtype == torch.bfloat16
for name, obj in (("tensors", batch), ("packed", _pack(batch))):
    t = time.perf_counter()
    for _ in range(20):
        pickle.loads(pickle.dumps(obj, protocol=5))
    print(f"{name:8s}: {(time.perf_counter() - t) / 20 * 1e3:.2f} ms per round trip of 64 samples")

# %% [markdown]
# ## 2. The worker process
#
# Each worker builds its SUT, says whether that worked, then answers each batch with
# `(True, outputs)` or `(False, error)` until it receives `None`. A SUT that raises fails only its
# query; the worker serves the next one. Ctrl-C is left to the parent (the workers ignore SIGINT).
# Each worker gets its own torch thread count (`threads_per_process`): two processes with torch's
# default of one intra-op thread per core ask for twice as many threads as there are cores.

# %%
#| export
def _process_worker(factory: Callable[[], Callable[[list], Any]], conn: Any, threads: int | None) -> None:
    "Body of one ProcessSUT worker: build the SUT, then answer (ok, outputs or error) per batch until None."
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if threads is not None:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    try:
        sut = factory()
    except Exception as e:  # report why the SUT could not be built, then stop
        conn.send((False, f"{type(e).__name__}: {e}"))
        return
    conn.send((True, None))
    while True:
        batch = conn.recv()
        if batch is None:
            return
        try:
            conn.send((True, _pack(sut(_unpack(batch)))))
        except Exception as e:  # the query fails; the worker serves the next one
            conn.send((False, f"{type(e).__name__}: {e}"))

# %% [markdown]
# The protocol, run here in this process: the batches are queued in the pipe before the worker
# starts, so it answers them in order and stops at `None`.

# %%
import multiprocessing
import signal


def double_positive(batch):
    if any(np.any(np.asarray(x) < 0) for x in batch):
        raise ValueError("negative input")
    return [2 * x for x in batch]


parent, child = multiprocessing.Pipe()
for batch in ([1, 2], [3, -1], [torch.ones(2)], None):
    parent.send(_pack(batch))
handler = signal.getsignal(signal.SIGINT)
try:
    _process_worker(lambda: double_positive, child, None)
finally:
    signal.signal(signal.SIGINT, handler)  # the worker ignores Ctrl-C; this notebook does not
answers = [parent.recv() for _ in range(4)]
assert answers[:3] == [(True, None), (True, [2, 4]), (False, "ValueError: negative input")]
assert torch.equal(_unpack(answers[3][1])[0], torch.full((2,), 2.0))
answers[:3]

# %% [markdown]
# ## 3. `ProcessSUT`
#
# The pool of workers: a call takes a free pipe, sends the batch, waits for the answer and puts the
# pipe back, so calls from several threads run in parallel, one process each. A worker that dies
# fails only the query it was serving and leaves the pool; when none is left, every call fails
# with that reason. `close()` (or leaving a `with` block, or garbage collection) stops them.

# %%
#| export
class ProcessSUT:
    """A SUT served by `processes` worker processes, each holding its own `factory()`; calls from several threads
    run in parallel (one process each), without sharing a GIL. Close it (or use `with`) to stop the workers.

    `threads_per_process`: torch intra-op threads in each worker (default: cores // processes, at least 1), so
    that the processes' thread pools do not oversubscribe the cores; None leaves torch's default."""
    def __init__(self, factory: Callable[[], Callable[[list], Any]], processes: int = 2, start_method: str = "spawn",
                 start_timeout: float = 120.0, threads_per_process: int | None | str = "auto"):
        import multiprocessing as mp
        import os
        import weakref
        processes = check_number(processes, "processes", integer=True, lo=1, hint="worker processes")
        start_timeout = check_number(start_timeout, "start_timeout", positive=True, hint="seconds")
        if threads_per_process == "auto":
            threads_per_process = max(1, (os.cpu_count() or 1) // processes)
        self.threads_per_process = threads_per_process
        ctx = mp.get_context(start_method)
        self.processes: list = []
        self._conns: list = []
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._worker_of: dict[int, Any] = {}  # id(pipe end) -> its process
        self._alive = processes  # workers still in the pool; a dead one is dropped from it
        self._lock = threading.Lock()
        # stops the workers on close(), on garbage collection or at exit; the lists fill in place below
        self._finalizer = weakref.finalize(self, ProcessSUT._stop, self.processes, self._conns)
        for _ in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_process_worker, args=(factory, child, threads_per_process), daemon=True)
            proc.start()
            child.close()
            self.processes.append(proc)
            self._conns.append(parent)
            self._worker_of[id(parent)] = proc
        for conn, proc in zip(self._conns, self.processes):
            try:
                if not conn.poll(start_timeout):
                    raise RuntimeError(f"a ProcessSUT worker did not start within {start_timeout:g} s")
                ok, why = conn.recv()
            except EOFError:
                proc.join(timeout=5)
                self.close()
                raise RuntimeError(f"a ProcessSUT worker exited while starting (exit code {proc.exitcode}): the "
                                   "factory and this class must be importable by a new process (defined in a module, "
                                   "not in a notebook or __main__)") from None
            except RuntimeError:
                self.close()
                raise
            if not ok:
                self.close()
                raise ValueError(f"the SUT factory failed in a worker process: {why}")
            self._free.put(conn)

    def __call__(self, batch: list) -> Any:
        conn = self._take()
        try:
            conn.send(_pack(batch))
            ok, payload = conn.recv()
        except (EOFError, OSError) as e:  # the worker died with this query in flight: only this query fails
            self._retire(conn)
            raise RuntimeError(f"a ProcessSUT worker process died ({type(e).__name__}, exit code "
                               f"{self._worker_of[id(conn)].exitcode}); {self._alive} worker(s) remain") from e
        self._free.put(conn)
        if not ok:
            raise RuntimeError(payload)
        return _unpack(payload)

    def _take(self) -> Any:
        "A free pipe to a live worker; workers found dead are dropped from the pool. RuntimeError when none is left."
        while True:
            if self._alive == 0:
                raise RuntimeError(f"every ProcessSUT worker process has died (exit codes "
                                   f"{[p.exitcode for p in self.processes]}): no worker left to serve the query")
            try:
                conn = self._free.get(timeout=0.2)
            except queue.Empty:  # all busy (or all dead): look again
                continue
            if self._worker_of[id(conn)].is_alive():
                return conn
            self._retire(conn)

    def _retire(self, conn: Any) -> None:
        "Drop a dead worker's pipe from the pool (it is never handed out again)."
        with self._lock:
            self._alive -= 1
        try:
            conn.close()
        except OSError:
            pass

    @staticmethod
    def _stop(processes: list, conns: list) -> None:
        for conn in conns:
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for proc in processes:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()

    def close(self) -> None:
        "Stop the worker processes (idempotent)."
        self._finalizer()

    def __enter__(self) -> "ProcessSUT":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        alive = sum(p.is_alive() for p in self.processes)
        return (f"ProcessSUT({len(self.processes)} processes, {alive} alive, "
                f"{self.threads_per_process or 'default'} torch threads each)")

# %% [markdown]
# The digits CNN behind a per-sample Python resize (`tinybench.workloads.DigitsPythonPipeline`)
# served by two processes answers as it does in this process; a factory that fails in the worker
# is reported with the worker's error.

# %%
import functools

from tinybench import procsut  # a spawned process imports its code: the package's, not this notebook's
from tinybench.workloads import DigitsPythonPipeline, load_digits

X = list(load_digits().X_test[:16])
with procsut.ProcessSUT(DigitsPythonPipeline, processes=2) as served:
    print(served)
    remote = served(X)
assert torch.allclose(remote, DigitsPythonPipeline()(X), atol=1e-5) and "0 alive" in repr(served)
try:
    procsut.ProcessSUT(functools.partial(DigitsPythonPipeline, size=7), processes=1)
except ValueError as e:
    print(e)
