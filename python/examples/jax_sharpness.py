"""Gradient descent at the edge of stability in JAX, logged for eos-explorer.

A tanh MLP trained with full-batch gradient descent on a small synthetic regression problem;
every --every steps the top Hessian eigenvalues of the training loss are computed by Lanczos
(scipy.sparse.linalg.eigsh on a LinearOperator) over Hessian-vector products
(``jax.jvp`` of ``jax.grad``: forward-over-reverse, no Hessian is ever formed). The rows go to
a run folder through ``python/eos_run.py`` (standard library only).

Run (needs ``python3 -m pip install "jax[cpu]"``, which brings NumPy and SciPy; on a GPU
install the matching jax wheel instead -- nothing here changes):

    python3 python/examples/jax_sharpness.py --out runs/jax-mlp --steps 1500

Open the result, or follow it live while it runs (the Runs workspace follows a folder whose
metrics.csv changed in the last 30 s):

    eos-explorer --open runs/jax-mlp
    eos-explorer plot runs/jax-mlp --figure sharpness --out jax-mlp.svg

With the defaults (15 s on a 2-core CPU) the sharpness lambda_1 rises from 3.2, crosses
2/eta = 6.67 at step 100, overshoots to 9.4 at step 170, comes back, and from step 700 on stays
within 6.59-6.91 while the loss keeps falling, non-monotonically: the edge of stability
(Cohen et al. 2021).
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eos_run import RunWriter  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # Lanczos in float64
import jax.numpy as jnp  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from scipy.sparse.linalg import LinearOperator, eigsh  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/jax-mlp", help="the run folder to write")
    p.add_argument("--steps", type=int, default=1500, help="updates (rows 0..steps)")
    p.add_argument("--lr", type=float, default=0.3, help="learning rate eta")
    p.add_argument("--every", type=int, default=10, help="eigenvalues every k steps")
    p.add_argument("--neigs", type=int, default=2, help="top eigenvalues to compute")
    p.add_argument("--n", type=int, default=200, help="training points")
    p.add_argument("--width", type=int, default=64, help="hidden units per layer")
    p.add_argument("--overwrite", action="store_true", help="clear an earlier run in --out")
    p.add_argument("--seed", type=int, default=0, help="random number generator state")
    return p.parse_args()


def init_mlp(key, sizes):
    """PyTorch nn.Linear-like initialisation (uniform, +-1/sqrt(fan_in))."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, kw, kb = jax.random.split(key, 3)
        bound = 1.0 / np.sqrt(fan_in)
        params.append((jax.random.uniform(kw, (fan_out, fan_in), minval=-bound, maxval=bound),
                       jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)))
    return params


def forward(params, x):
    for w, b in params[:-1]:
        x = jnp.tanh(x @ w.T + b)
    w, b = params[-1]
    return x @ w.T + b


def main():
    a = parse_args()
    key = jax.random.PRNGKey(a.seed)
    kx, kw, kp = jax.random.split(key, 3)
    d = 8
    x = jax.random.normal(kx, (a.n, d))
    teacher = jax.random.normal(kw, (d, 1)) / np.sqrt(d)
    y = jnp.sin(2.0 * x @ teacher) + 0.5 * jnp.cos(x[:, :1])
    sizes = [d, a.width, a.width, 1]
    params = init_mlp(kp, sizes)
    theta, unravel = ravel_pytree(params)

    def loss(theta):
        # MSE as eos-explorer reports it: 1/2 mean squared error summed over outputs.
        r = forward(unravel(theta), x) - y
        return 0.5 * jnp.mean(jnp.sum(r * r, axis=1))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    hvp = jax.jit(lambda th, v: jax.jvp(jax.grad(loss), (th,), (v,))[1])

    def top_eigs(theta, k, v0):
        """Top-k eigenvalues (largest first), Hessian-vector products used, largest residual."""
        count = [0]

        def matvec(v):
            count[0] += 1
            return np.asarray(hvp(theta, jnp.asarray(np.ravel(v))))

        op = LinearOperator((theta.size, theta.size), matvec=matvec, dtype=np.float64)
        vals, vecs = eigsh(op, k=k, which="LA", v0=v0, tol=1e-7)
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
        res = max(float(np.linalg.norm(matvec(vecs[:, i]) - vals[i] * vecs[:, i]))
                  for i in range(k))
        return [float(v) for v in vals], count[0], res, vecs[:, 0]

    v0 = np.random.default_rng(a.seed).standard_normal(theta.size)
    info = {
        "program": "jax_sharpness.py",
        "network": "fc-tanh " + "-".join(map(str, sizes)),
        "parameters": int(theta.size),
        "dataset": f"synthetic-{a.n}",
        "train_samples": a.n,
    }
    lam_cols = [f"lambda_{i + 1}" for i in range(a.neigs)]
    columns = ["wall_s", "lr", "train_loss"] + lam_cols + [
        "hvps", "lanczos_residual", "grad_norm", "threshold"]
    compute = 0.0
    with RunWriter(a.out, config=info, overwrite=a.overwrite, columns=columns) as run:
        run.write_json("settings.json", vars(a))
        for t in range(a.steps + 1):
            t0 = time.perf_counter()
            # Row t is measured at theta_t, before the update of step t.
            value, grad = value_and_grad(theta)
            row = {"train_loss": float(value), "grad_norm": float(jnp.linalg.norm(grad))}
            diverged = not np.isfinite(row["train_loss"])
            if not diverged and (t % a.every == 0 or t == a.steps):
                lams, hvps, res, v0 = top_eigs(theta, a.neigs, v0)  # warm start
                row.update(zip(lam_cols, lams), hvps=hvps, lanczos_residual=res)
            if t < a.steps and not diverged:
                theta = theta - a.lr * grad
                theta.block_until_ready()
            compute += time.perf_counter() - t0
            run.log(t, wall_s=compute, lr=a.lr, threshold=2 / a.lr, **row)
            if diverged:
                break  # close() records the divergence
    print(f"wrote {a.out}: open it with `eos-explorer --open {a.out}`")


if __name__ == "__main__":
    main()
