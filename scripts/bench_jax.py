#!/usr/bin/env python3
"""The JAX reference for `eos-explorer bench`: the same workload timed in JAX on this CPU.

CIFAR-5k (the first 5,000 records of data_batch_1.bin, every feature standardised with the
50,000-image mean/std, as Cohen et al. 2021 do), fc-tanh 3072-200-200-10 with biases (656,810
parameters), MSE on one-hot targets, float32. Times, each the median of --reps jitted calls
after a warm-up:

* GD step: loss + gradient + update (`theta - lr * grad`), one jitted function;
* HVP: forward-over-reverse (`jax.jvp` of `jax.grad`), one jitted function;
* GEMM: (5000x3072)·(3072x200) in float32, the shape `eos-explorer bench` uses as its yardstick.

Run it right before or after `eos-explorer bench` and compare the two GEMM rates: this VM's
throughput swings about 2x over minutes, so only back-to-back figures compare.

    pip install "jax[cpu]" numpy
    python3 scripts/bench_jax.py --cifar-dir ../shared/data/cifar10 [--reps 7] [--n 5000]
"""
import argparse
import os
import sys
import time

import numpy as np


def load_cifar(dir_, n):
    raw = np.fromfile(os.path.join(dir_, "data_batch_1.bin"), dtype=np.uint8)
    if raw.size % 3073 != 0 or raw.size // 3073 < n:
        sys.exit(f"{dir_}/data_batch_1.bin: expected at least {n} records of 3073 bytes")
    rec = raw.reshape(-1, 3073)[:n]
    labels = rec[:, 0].astype(np.int64)
    x = rec[:, 1:].astype(np.float64) / 255.0
    stats_path = os.path.join(dir_, "train50k_feature_mean_std.f64le")
    if os.path.exists(stats_path):
        stats = np.fromfile(stats_path, dtype="<f8").reshape(2, 3072)
        mean, std = stats[0], stats[1]
    else:
        mean, std = x.mean(axis=0), x.std(axis=0)
    x = (x - mean) / std
    y = np.eye(10)[labels]
    return x.astype(np.float32), y.astype(np.float32)


def init_params(rng, sizes):
    theta = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        theta.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)).ravel())
        theta.append(rng.uniform(-bound, bound, size=fan_out))
    return np.concatenate(theta).astype(np.float32)


def median_time(f, reps):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cifar-dir", required=True, help="folder with data_batch_1.bin")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp

    x_np, y_np = load_cifar(args.cifar_dir, args.n)
    sizes = [3072, 200, 200, 10]
    shapes = list(zip(sizes[1:], sizes[:-1]))
    theta0 = init_params(np.random.default_rng(0), sizes)
    X = jnp.asarray(x_np)
    Y = jnp.asarray(y_np)

    def loss(theta):
        h, off = X, 0
        for i, (fo, fi) in enumerate(shapes):
            W = theta[off:off + fo * fi].reshape(fo, fi)
            off += fo * fi
            b = theta[off:off + fo]
            off += fo
            h = h @ W.T + b
            if i + 1 < len(shapes):
                h = jnp.tanh(h)
        return 0.5 * jnp.mean(jnp.sum((h - Y) ** 2, axis=1))

    grad = jax.grad(loss)

    @jax.jit
    def gd_step(theta):
        l, g = jax.value_and_grad(loss)(theta)
        return theta - 1e-3 * g, l

    @jax.jit
    def hvp(theta, v):
        return jax.jvp(grad, (theta,), (v,))[1]

    A = jnp.asarray(x_np)
    B = jnp.asarray(np.random.default_rng(1).standard_normal((3072, 200)).astype(np.float32))
    gemm = jax.jit(lambda a, b: a @ b)

    theta = jnp.asarray(theta0)
    v = jnp.asarray(np.random.default_rng(2).standard_normal(theta0.size).astype(np.float32))
    # Warm-up (compilation, allocation).
    gd_step(theta)[0].block_until_ready()
    hvp(theta, v).block_until_ready()
    gemm(A, B).block_until_ready()

    state = {"theta": theta}

    def one_step():
        t, _ = gd_step(state["theta"])
        t.block_until_ready()
        state["theta"] = t

    t_gemm = median_time(lambda: gemm(A, B).block_until_ready(), args.reps)
    t_gd = median_time(one_step, args.reps)
    t_hvp = median_time(lambda: hvp(state["theta"], v).block_until_ready(), args.reps)
    t_gemm2 = median_time(lambda: gemm(A, B).block_until_ready(), args.reps)
    gflop_gemm = 2 * args.n * 3072 * 200 * 1e-9
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}, {theta0.size} parameters, n = {args.n}, "
          f"float32, median of {args.reps}")
    print(f"GEMM (5000x3072)·(3072x200): {t_gemm:.4f} s before, {t_gemm2:.4f} s after "
          f"({gflop_gemm / t_gemm:.1f} / {gflop_gemm / t_gemm2:.1f} GFLOP/s)")
    print(f"GD step (loss + gradient + update): {t_gd:.4f} s")
    print(f"HVP (jvp of grad): {t_hvp:.4f} s")


if __name__ == "__main__":
    main()
