"""The torch backend's CUDA fast paths (sdesim.backends.torch_fused / torch_graphs / torch_fast).

On the CPU the Triton kernels run under Triton's interpreter (``TRITON_INTERPRET=1``, set in a
subprocess before triton is imported): the same code as on CUDA, checked bit for bit against
the plain torch path's stream (Philox outputs bit for bit) and states (float64: equal up to the
last-bit differences of numpy's and torch's log/cos). Skipped without torch or triton; the CUDA tests skip without CUDA.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_INTERPRETED = textwrap.dedent("""
    import numpy as np, torch, sdesim
    from sdesim.backends import torch_fused as tf
    from sdesim.backends.torch_graphs import block_chunk
    from sdesim.backends.torch_model import TorchModel
    from sdesim.backends.torch_backend import TORCH, normals, run_key
    import triton, triton.language as tl
    from sdesim.backends.torch_backend import philox4x32

    @triton.jit
    def raw(out, seed, c, B: tl.constexpr):  # the kernels' Philox call, uint32 outputs
        i = tl.arange(0, B).to(tl.uint32)
        z = i * 0
        o0, o1, o2, o3 = tl.philox(seed, i, z + c, z, z)
        for r, o in enumerate((o0, o1, o2, o3)):
            tl.store(out + tl.arange(0, B) * 4 + r, o.to(tl.int64))

    rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(3,)))
    key = run_key(rng)
    got = torch.zeros(16 * 4, dtype=torch.int64)
    raw[(1,)](got, tf._seed(key), 7, B=16)
    i = torch.arange(16)
    ref = philox4x32([i, torch.full_like(i, 7), 0 * i, 0 * i], key)
    assert torch.equal(got.view(16, 4), torch.stack(ref, 1)), "philox bits"
    for Q, q0 in ((13, 0), (7, 3), (21, 6)):
        out = torch.zeros(5, Q, dtype=torch.float64)
        tf.normals_into(out, key, 100, torch.tensor(q0), torch.tensor(2.0, dtype=torch.float64))
        ref = 2 * normals(key, torch.arange(100, 105), q0, q0 + Q, torch.float64)
        assert torch.allclose(out, ref, rtol=0, atol=1e-14), ("normals", Q, q0)  # libm ulps
    for d in (1, 3, 10):
        sde = sdesim.gbm(0.3, 0.5, d=d) if d > 1 else sdesim.ou(1.0, 0.5)
        x0 = np.linspace(0.5, 1.5, 6 * d).reshape(6, d)
        for ratios in ((1,), (1, 2, 4), (4, 2, 1)):
            got, bad = tf.linear_chunk(sde, torch.tensor(x0), 0.01, 26, ratios, [8, 24, 26], key, 7)
            ref = TORCH.run_chunk(sde, x0, 0.01, 26, ratios, [8, 24, 26], rng, path_start=7)
            assert np.allclose(got.numpy(), ref, rtol=0, atol=1e-13) and int(bad) == 0, \
                ("linear", d, ratios)
        # a path's states do not depend on the chunk it is in
        whole, _ = tf.linear_chunk(sde, torch.tensor(x0), 0.01, 26, (1, 2), [26], key, 7)
        tail, _ = tf.linear_chunk(sde, torch.tensor(x0[2:]), 0.01, 26, (1, 2), [26], key, 9)
        assert np.array_equal(whole.numpy()[:, :, 2:], tail.numpy()), ("chunks", d)
    for d in (2, 5, 16):  # the generated one-path-per-thread kernels (plain runs, 2 <= d <= 16)
        sde = sdesim.ou(1.0, 0.5, d=d)
        x0 = np.linspace(-1.0, 1.0, 3 * d).reshape(3, d)
        got, bad = tf.linear_chunk(sde, torch.tensor(x0), 0.01, 7, (1,), [3, 7], key, 11)
        ref = TORCH.run_chunk(sde, x0, 0.01, 7, (1,), [3, 7], rng, path_start=11)
        assert np.allclose(got.numpy(), ref, rtol=0, atol=1e-13) and int(bad) == 0, ("rows", d)
        tail, _ = tf.linear_chunk(sde, torch.tensor(x0[1:]), 0.01, 7, (1,), [3, 7], key, 12)
        assert np.array_equal(got.numpy()[:, :, 1:], tail.numpy()), ("rows chunks", d)
    for d in (1, 2):
        blow, bad = tf.linear_chunk(sdesim.gbm(50.0, 0.1, d=d),
                                    torch.ones(4, d, dtype=torch.float64), 1.0, 200, (1,), [200],
                                    key)
        assert int(bad) == 4 * d, (d, int(bad))
    dw = sdesim.SDE(lambda t, x: x - x ** 3, lambda t, x: 0.5 + 0.0 * x, d=2)
    model = TorchModel(dw, torch.device("cpu"), torch.float64)
    x0 = np.ones((5, 2))
    got = block_chunk(model, dw, x0, 0.01, 30, [10, 30], key, 4, graph=False, size=7)
    ref = TORCH.run_chunk(dw, x0, 0.01, 30, (1,), [10, 30], rng, kernel=model, path_start=4)[0]
    got = got.numpy()
    assert np.allclose(got, ref, rtol=0, atol=1e-13), np.abs(got - ref).max()
    print("ok")
""")


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.skipif(torch.cuda.is_available(),
                    reason="with CUDA the compiled kernels are tested directly (below)")
def test_kernels_match_the_plain_torch_path_under_the_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, "-c", _INTERPRETED], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-3000:]


def test_group_shape_uses_every_draw_of_a_group():
    from sdesim.backends.torch_fused import group_shape
    for d in range(1, 33):
        G, CP = group_shape(d)
        assert (G * d) % 4 == 0 and G * d // 4 <= CP and CP & (CP - 1) == 0, (d, G, CP)
    assert group_shape(1) == (4, 1) and group_shape(10) == (6, 16)


def test_generated_kernels_use_every_draw_once():
    """The generated kernel for d draws G d / 4 counters per group of G = 4 / gcd(d, 4) steps,
    each once, and feeds draw q = g d + j to coordinate j at step g."""
    import math
    import re
    from sdesim.backends.torch_fused import rows_source
    for d in (2, 3, 10, 16):
        src = rows_source(d)
        G = 4 // math.gcd(d, 4)
        counters = re.findall(r"tl\.philox\(seed, path, c \+ (\d+),", src)
        assert [int(c) for c in counters] == list(range(G * d // 4)), d
        fed = re.findall(r"x(\d+) = x\1 \+ .* \* \(z(\d+) \* sqrt_h\)", src)
        assert [(int(j), int(q)) for j, q in fed] == \
            [(j, g * d + j) for g in range(G) for j in range(d)], d


def test_fast_paths_are_not_taken_off_cuda():
    import sdesim
    from sdesim.backends.torch_fast import fast_chunk
    from sdesim.backends.torch_model import TorchModel
    sde = sdesim.ou(1.0, 0.5)
    model = TorchModel(sde, torch.device("cpu"), torch.float64)
    assert fast_chunk(model, sde, np.ones((3, 1)), 0.1, 5, (1,), [5], (1, 2)) is None


@cuda
@pytest.mark.parametrize("sde_name", ["gbm", "double well"])
def test_cuda_fast_paths_match_the_cpu_plain_path(sde_name):
    import sdesim
    sde = (sdesim.gbm(0.5, 0.6, d=3) if sde_name == "gbm" else
           sdesim.SDE(lambda t, x: x - x ** 3, lambda t, x: 0.5 + 0.0 * x, d=3))
    kw = dict(T=1.0, dt=1 / 64, n_paths=300, save_at=[0.5, 1.0], rng=3, quiet=True,
              backend="torch", dtype="float64")
    gpu = sdesim.simulate(sde, np.ones(3), device="cuda", **kw).xs
    cpu = sdesim.simulate(sde, np.ones(3), device="cpu", **kw).xs
    assert np.allclose(gpu, cpu, rtol=1e-10, atol=1e-12)


@cuda
def test_cuda_fused_gbm_matches_exact_em_chain_moments():
    import sdesim
    mu, sig, n, steps = 0.5, 0.6, 10**6, 50
    h = 1.0 / steps
    est = sdesim.expectation(sdesim.gbm(mu, sig), [1.0],
                             lambda x: np.stack([x[:, 0], x[:, 0] ** 2], 1), T=1.0, dt=h,
                             n_paths=n, rng=2, quiet=True, backend="torch", device="cuda")
    exact = np.array([(1 + mu * h) ** steps, ((1 + mu * h) ** 2 + sig ** 2 * h) ** steps])
    assert np.all(np.abs((est.mean - exact) / est.stderr) < 5)
