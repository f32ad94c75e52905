"""Scale-out: the same call, bitwise the same answer, serial / threads / a Dask LocalCluster of two
worker processes / two gloo ranks under torchrun; a worker killed mid-run; a diverging chunk
named by its seed and replayed alone (sdesim.distributed, sdesim.torch.distributed)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import sdesim
from sdesim.distributed import DaskExecutor, replay_chunk, resolve_executor
from sdesim.engine import Progress, Serial, Threads, root_seed, run_chunks
from sdesim.stats import MomentAccumulator

distributed = pytest.importorskip("distributed")

GBM = sdesim.gbm(0.5, 0.4)
DTS = [0.2, 0.1, 0.05, 0.025, 0.0125]


def em_gbm_mean(h, mu=0.5, T=1.0):
    """Exact E X_T of the Euler-Maruyama chain of GBM from 1: (1 + mu h)^(T/h)."""
    return (1 + mu * h) ** round(T / h)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def executors(client):
    return {"serial": "serial", "threads": Threads(2), "dask": client,
            "dask address": client.scheduler.address,
            "dask by name": "dask"}  # the current (default) client: the fixture's


def same(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_expectation_bitwise_on_every_executor(client):
    kw = dict(T=1.0, dt=0.01, n_paths=40_000, chunk_size=3000, rng=7, quiet=True)
    runs = {name: sdesim.expectation(GBM, 1.0, lambda x: x[:, 0], executor=ex, **kw)
            for name, ex in executors(client).items()}
    ref = runs["serial"]
    assert abs(ref.zscore(em_gbm_mean(0.01))) < 5
    for name, est in runs.items():
        assert same(est.mean, ref.mean) and same(est.stderr, ref.stderr), name
    # the default executor (threads for numba) and the merge of the old code path agree too
    assert same(sdesim.expectation(GBM, 1.0, lambda x: x[:, 0], **kw).mean, ref.mean)


def test_user_f_g_lambdas_travel_to_workers(client):
    """cloudpickle carries lambdas; each worker compiles the numba kernel once."""
    sde = sdesim.SDE(lambda t, x: -x, lambda t, x: 0.5 + 0 * x, d=1)
    kw = dict(T=1.0, dt=0.02, n_paths=20_000, chunk_size=2500, rng=3, quiet=True,
              times=[0.5, 1.0])
    ser = sdesim.expectation(sde, 1.0, lambda x: x[:, 0] ** 2, executor="serial", **kw)
    das = sdesim.expectation(sde, 1.0, lambda x: x[:, 0] ** 2, executor=client, **kw)
    assert ser.mean.shape == (2,)
    assert same(das.mean, ser.mean) and same(das.stderr, ser.stderr)


def test_weak_order_bitwise_on_every_executor(client):
    kw = dict(T=1.0, dts=DTS, n_paths=20_000, chunk_size=2000, rng=3, quiet=True,
              exact=float(np.exp(0.5)))
    runs = {name: sdesim.weak_order(GBM, 1.0, lambda x: x[:, 0], executor=ex, **kw)
            for name, ex in executors(client).items()}
    ref = runs["serial"]
    z = (ref.means - [em_gbm_mean(h) for h in ref.dts]) / np.sqrt(np.diag(ref.cov))
    assert np.all(np.abs(z) < 5)
    for name, r in runs.items():
        assert same(r.errors, ref.errors) and same(r.stderrs, ref.stderrs), name
        assert r.order == ref.order and r.order_ci == ref.order_ci, name


def test_paths_uncoupled_levels_sgd_and_exit_times_on_dask(client):
    from sdesim.escape import Interval, exit_times
    from sdesim.sgd import NoisyQuadratic, run
    from sdesim.sgd import expectation as sgd_expectation
    kw = dict(T=1.0, dt=0.1, n_paths=500, chunk_size=64, rng=5, quiet=True)
    x0 = np.linspace(0.5, 1.5, 500)[:, None]  # per-path initial states travel in their chunks
    assert same(sdesim.simulate(GBM, x0, executor=client, **kw).xs,
                sdesim.simulate(GBM, x0, **kw).xs)
    kw = dict(T=1.0, lr=0.1, n_paths=300, chunk_size=64, rng=5, quiet=True, method="svag", l=2)
    assert same(run(NoisyQuadratic([[1.0]]), [1.0], executor=client, **kw).xs,
                run(NoisyQuadratic([[1.0]]), [1.0], **kw).xs)
    kw = dict(T=1.0, dts=[0.1, 0.05], n_paths=5000, chunk_size=1000, rng=2, quiet=True,
              coupled=False)
    a = sdesim.expectation_levels(GBM, 1.0, lambda x: x[:, 0], executor="serial", **kw)
    b = sdesim.expectation_levels(GBM, 1.0, lambda x: x[:, 0], executor=client, **kw)
    assert same(a.mean, b.mean) and same(a.cov, b.cov)
    kw = dict(T=1.0, lr=0.1, n_paths=1000, chunk_size=100, rng=0, quiet=True)
    a = sgd_expectation(NoisyQuadratic([[1.0]]), [1.0], lambda x: x[:, 0], **kw)
    b = sgd_expectation(NoisyQuadratic([[1.0]]), [1.0], lambda x: x[:, 0], executor=client,
                        **kw)
    assert abs(a.zscore(0.9 ** 10)) < 5  # E x_k = (1 - lr)^k exactly
    assert same(a.mean, b.mean) and same(a.stderr, b.stderr)
    kw = dict(dt=0.01, t_max=5.0, n_paths=3000, chunk_size=500, rng=1, quiet=True,
              backend="numpy")
    a = exit_times(sdesim.ou(1.0, 1.0), 0.0, Interval(-1, 1), **kw)
    b = exit_times(sdesim.ou(1.0, 1.0), 0.0, Interval(-1, 1), executor=client, **kw)
    assert same(a.times, b.times) and same(a.position, b.position)


def test_progress_is_counted_per_finished_chunk_on_a_remote_executor(client):
    seen = []

    def task(chunk):
        return chunk.rng.standard_normal(chunk.stop - chunk.start).sum()

    progress = Progress(10 * 103, True, "test", "test")
    progress.update = seen.append
    out = list(run_chunks(task, 103, 10, root_seed(4), executor=DaskExecutor(client),
                          progress=progress, units=10))
    assert out == list(run_chunks(task, 103, 10, root_seed(4)))
    assert sorted(seen) == sorted([100] * 10 + [30]) and sum(seen) == 1030


def test_moment_merge_is_the_update_arithmetic():
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((n, 3)) for n in (5, 17, 1, 40)]
    for full in (False, True):
        upd, mrg = MomentAccumulator(3, full), MomentAccumulator(3, full)
        for b in batches:
            upd.update(b)
            mrg.merge(MomentAccumulator.of(b, full))
        assert same(upd.mean, mrg.mean) and same(upd.m2, mrg.m2) and upd.n == mrg.n
    with pytest.raises(ValueError, match="other must have dim=3"):
        MomentAccumulator(3).merge(MomentAccumulator(2))


def test_resolve_executor_names_what_it_takes():
    assert isinstance(resolve_executor("serial", True), Serial)
    assert resolve_executor(None, False).__class__ is Serial
    with pytest.raises(ValueError, match="executor must be one of"):
        resolve_executor("spark", True)
    with pytest.raises(TypeError, match="executor must be None"):
        resolve_executor(3, True)
    with pytest.raises(RuntimeError, match="needs an initialised process group"):
        resolve_executor("torch.distributed", True)


EXPLOSIVE = sdesim.SDE(lambda t, x: x * x, lambda t, x: 0.1 * x, d=1)
X0_BAD = np.r_[np.zeros(150), np.full(50, 30.0)][:, None]  # paths 150..199 blow up


@pytest.mark.parametrize("backend, executor", [("numpy", "dask"), ("numba", "threads")])
def test_diverging_chunk_is_named_by_seed_and_replays_alone(client, backend, executor):
    kw = dict(T=1.0, dt=0.01, n_paths=200, chunk_size=50, rng=11, quiet=True, backend=backend)
    ex = client if executor == "dask" else executor
    with pytest.raises(sdesim.SimulationDiverged,
                       match=r"paths 150\.\.199, seed entropy=11, spawn_key=\(3,\)") as info:
        sdesim.expectation(EXPLOSIVE, X0_BAD, lambda x: x[:, 0], executor=ex, **kw)
    chunk = info.value.chunk
    assert (chunk.start, chunk.stop, chunk.spawn_key, chunk.backend) == (150, 200, (3,), backend)
    replay = replay_chunk(EXPLOSIVE, X0_BAD, chunk)
    assert not np.isfinite(replay.xs[-1]).any()
    full = sdesim.simulate(EXPLOSIVE, X0_BAD, on_nonfinite="keep", **kw)
    assert np.array_equal(replay.xs, full.xs[:, 150:200], equal_nan=True)


def test_replay_chunk_checks_its_arguments():
    from sdesim.backends.errors import ChunkRun
    run = ChunkRun(0, (3,), 150, 200, 0.01, 100, (1,), "numpy")
    with pytest.raises(ValueError, match=r"n_paths >= 200"):
        replay_chunk(EXPLOSIVE, np.zeros((100, 1)), run)
    with pytest.raises(ValueError, match="level must be in"):
        replay_chunk(EXPLOSIVE, 0.0, run, level=1)
    with pytest.raises(TypeError, match="chunk must be the ChunkRun"):
        replay_chunk(EXPLOSIVE, 0.0, (0, 3))


GLOO_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import sdesim
    from sdesim.torch.distributed import init

    ex = init("gloo")
    gbm = sdesim.gbm(0.5, 0.4)
    e_t = sdesim.expectation(gbm, 1.0, lambda x: x[:, 0], T=1.0, dt=0.01, n_paths=12_000,
                             chunk_size=1000, rng=7, backend="torch", quiet=True, executor=ex)
    e_n = sdesim.expectation(gbm, 1.0, lambda x: x[:, 0], T=1.0, dt=0.01, n_paths=12_000,
                             chunk_size=1000, rng=7, backend="numba", quiet=True, executor=ex)
    w = sdesim.weak_order(gbm, 1.0, lambda x: x[:, 0], T=1.0, dts=%r, n_paths=6000,
                          chunk_size=1000, rng=3, backend="torch", quiet=True,
                          exact=float(np.exp(0.5)), executor="torch.distributed")
    np.savez(sys.argv[1] + f"-{ex.rank}.npz", e_t=[e_t.mean, e_t.stderr],
             e_n=[e_n.mean, e_n.stderr], w_err=w.errors, w_se=w.stderrs, w_order=w.order)
""") % (DTS,)


@pytest.mark.parametrize("world", [1, 2])
def test_gloo_ranks_bitwise_equal_serial(tmp_path, world):
    pytest.importorskip("torch")
    script = tmp_path / "run.py"
    script.write_text(GLOO_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", SDESIM_TORCH_DEVICE="cpu")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={world}", str(script), str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kw = dict(T=1.0, dt=0.01, n_paths=12_000, chunk_size=1000, rng=7, quiet=True)
    e_t = sdesim.expectation(GBM, 1.0, lambda x: x[:, 0], backend="torch", executor="serial",
                             device="cpu", **kw)
    e_n = sdesim.expectation(GBM, 1.0, lambda x: x[:, 0], backend="numba", **kw)
    w = sdesim.weak_order(GBM, 1.0, lambda x: x[:, 0], T=1.0, dts=DTS, n_paths=6000,
                          chunk_size=1000, rng=3, backend="torch", quiet=True,
                          exact=float(np.exp(0.5)), device="cpu")
    assert abs(e_t.zscore(em_gbm_mean(0.01))) < 5
    for rank in range(world):
        got = np.load(tmp_path / f"out-{rank}.npz")
        assert same(got["e_t"], [e_t.mean, e_t.stderr]), rank
        assert same(got["e_n"], [e_n.mean, e_n.stderr]), rank
        assert same(got["w_err"], w.errors) and same(got["w_se"], w.stderrs), rank
        assert got["w_order"] == w.order, rank


def test_worker_killed_mid_run_same_answer(client, tmp_path):
    """A chunk task kills its own worker process once (a flag file); Dask reruns the lost
    tasks on the other worker (and the nanny restarts the dead one)."""
    flag = tmp_path / "kill-once"
    flag.write_text("")
    path = str(flag)

    def phi(x):
        try:
            os.remove(path)  # the first chunk to get here kills its worker, once
        except FileNotFoundError:
            return x[:, 0]
        os._exit(1)

    kw = dict(T=1.0, dt=0.01, n_paths=40_000, chunk_size=3000, rng=7, quiet=True)
    ref = sdesim.expectation(GBM, 1.0, lambda x: x[:, 0], executor="serial", **kw)
    got = sdesim.expectation(GBM, 1.0, phi, executor=client, **kw)
    assert not flag.exists()  # a worker did die
    assert same(got.mean, ref.mean) and same(got.stderr, ref.stderr)


def test_dask_in_a_script_without_main_guard_says_what_to_do(tmp_path):
    """executor='dask' from a script without `if __name__ == "__main__":` (the worker
    processes import the script again): a RuntimeError that names the guard, not only Dask's
    "Nanny failed to start"."""
    script = tmp_path / "unguarded.py"
    script.write_text("import sdesim\n"
                      "sdesim.expectation(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0], T=1.0, "
                      "dt=0.1, n_paths=100, rng=0, quiet=True, executor='dask')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode != 0
    assert 'if __name__ == "__main__":' in proc.stderr
