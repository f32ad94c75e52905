"""OU (d = 10) ``expectation`` with 10⁹ paths on one or several GPUs, same seed: the estimate is
bitwise the same for every number of GPUs, and the time shows the speed-up.

Run under torchrun, one process per GPU (NCCL; leave NVLink multicast off, as the device notes
say)::

    torchrun --standalone --nproc_per_node=1 -m bench.multi_gpu_ou --out one.json
    torchrun --standalone --nproc_per_node=2 -m bench.multi_gpu_ou --out two.json

Problem: ``dX = -X dt + 0.5 dW`` in d = 10 (diagonal), ``x0 = 1``, ``T = 1``, ``dt = 0.01``,
``phi = |x|²``, ``rng=0``, ``backend="torch"``, chunk size 2^20 paths (fixed, so the merge order
is the same for every world size), ``executor=sdesim.torch.distributed.init()``: rank ``r`` runs
chunks ``r, r + W, …`` and every rank merges all chunks' accumulators in chunk order. Timed:
the whole call on rank 0, after a small warm-up call (kernel compile). Rank 0 prints and
writes (``--out``) the estimate as exact hex floats, the seconds, the GPU's name and the world
size; compare two runs' ``mean_hex``/``stderr_hex`` for the bitwise claim. The estimate is
checked against the exact EM-chain value (:func:`sdesim.exact.ou_em_chain_moments`).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import sdesim
from sdesim.exact import ou_em_chain_moments

D, THETA, SIGMA, T, DT, CHUNK = 10, 1.0, 0.5, 1.0, 0.01, 2**20


def sq_norm(x):
    """``|x|²`` per row, on numpy arrays and torch tensors alike."""
    return (x * x).sum(axis=1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", type=float, default=1e9)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    import torch
    from sdesim.torch.distributed import init

    ex = init()
    sde = sdesim.ou(THETA, SIGMA, d=D)
    x0 = np.ones(D)
    kw = dict(T=T, dt=DT, rng=0, backend="torch", chunk_size=CHUNK, executor=ex, quiet=True)
    sdesim.expectation(sde, x0, sq_norm, n_paths=2 * CHUNK * ex.world_size, **kw)  # warm-up
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    est = sdesim.expectation(sde, x0, sq_norm, n_paths=int(a.paths), **kw)
    seconds = time.perf_counter() - t0
    m = ou_em_chain_moments(THETA * np.eye(D), SIGMA * np.eye(D), x0, DT, int(round(T / DT)))
    exact = float(np.trace(m.second))
    gpu = torch.cuda.get_device_name() if cuda else "cpu (gloo)"
    out = {"world_size": ex.world_size, "gpu": gpu,
           "n_paths": int(a.paths), "seconds": seconds,
           "path_dim_steps_per_s": a.paths * D * (T / DT) / seconds,
           "mean": float(est.mean), "stderr": float(est.stderr),
           "mean_hex": float(est.mean).hex(), "stderr_hex": float(est.stderr).hex(),
           "exact_em_chain": exact, "z": float(est.zscore(exact))}
    if ex.rank == 0:
        print(json.dumps(out, indent=1))
        if a.out:
            with open(a.out, "w") as fh:
                json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
