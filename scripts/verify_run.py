#!/usr/bin/env python3
"""Independent check of an `eos-explorer run` folder with JAX.

Reads train.npz (X, Y) and params_step{N}.npz (W1, b1, W2, b2, ... in PyTorch Linear layout),
rebuilds the network in JAX from config.json (activation, loss), recomputes the training loss
and the top Hessian eigenvalue (Lanczos on jax.jvp-of-grad Hessian-vector products, full
reorthogonalisation, in float64), and compares with metrics.csv.

    python3 scripts/verify_run.py RUN_DIR [--loss-tol 1e-5] [--lambda-tol 1e-3]

Exit status 1 when a saved step disagrees beyond the tolerances.
"""
import argparse
import csv
import glob
import json
import os
import re
import sys

import numpy as np

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax.scipy.special import erf  # noqa: E402


def activation(name):
    return {
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "elu": jax.nn.elu,
        "softplus": jax.nn.softplus,
        "gelu": lambda z: z * 0.5 * (1.0 + erf(z / jnp.sqrt(2.0))),
        "swish": lambda z: z * jax.nn.sigmoid(z),
        "identity": lambda z: z,
    }[name]


def make_loss(cfg, X, Y, shapes):
    act = activation(cfg["activation"])
    loss_kind = cfg["loss"]

    def unflatten(theta):
        out, off = [], 0
        for (wshape, bshape) in shapes:
            n = wshape[0] * wshape[1]
            W = theta[off:off + n].reshape(wshape)
            off += n
            b = None
            if bshape is not None:
                b = theta[off:off + bshape]
                off += bshape
            out.append((W, b))
        return out

    def loss(theta):
        h = X
        layers = unflatten(theta)
        for i, (W, b) in enumerate(layers):
            h = h @ W.T
            if b is not None:
                h = h + b
            if i + 1 < len(layers):
                h = act(h)
        if loss_kind == "mse":
            return 0.5 * jnp.mean(jnp.sum((h - Y) ** 2, axis=1))
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.sum(Y * logp, axis=1))

    return loss


def lanczos_top(hvp, dim, k=1, iters=80, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(dim)
    q /= np.linalg.norm(q)
    Q, a, b = [q], [], []
    theta = None
    for j in range(iters):
        w = np.asarray(hvp(Q[-1]))
        a.append(Q[-1] @ w)
        for _ in range(2):
            for v in Q:
                w = w - (v @ w) * v
        beta = np.linalg.norm(w)
        T = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
        new = np.sort(np.linalg.eigvalsh(T))[::-1][:k]
        if theta is not None and len(new) == len(theta) and np.all(np.abs(new - theta) <= 1e-12 * np.abs(new)):
            return new
        theta = new
        if beta < 1e-12:
            return theta
        b.append(beta)
        Q.append(w / beta)
    return theta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--loss-tol", type=float, default=1e-5)
    ap.add_argument("--lambda-tol", type=float, default=1e-3)
    args = ap.parse_args()
    d = args.run_dir
    cfg = json.load(open(os.path.join(d, "config.json")))["config"]
    data = np.load(os.path.join(d, "train.npz"))
    X = jnp.asarray(data["X"], dtype=jnp.float64)
    Y = jnp.asarray(data["Y"], dtype=jnp.float64)
    rows = {int(float(r["step"])): r for r in csv.DictReader(open(os.path.join(d, "metrics.csv")))}
    files = sorted(glob.glob(os.path.join(d, "params_step*.npz")),
                   key=lambda f: int(re.search(r"params_step(\d+)\.npz", f).group(1)))
    if not files:
        print("no params_step*.npz in", d)
        return 1
    worst_loss = worst_lam = 0.0
    ok = True
    for f in files:
        step = int(re.search(r"params_step(\d+)\.npz", f).group(1))
        p = np.load(f)
        names = sorted({k[1:] for k in p.files if k.startswith("W")}, key=int)
        shapes, parts = [], []
        for i in names:
            W = np.asarray(p["W" + i], dtype=np.float64)
            parts.append(W.ravel())
            b = p["b" + i] if ("b" + i) in p.files else None
            if b is not None:
                parts.append(np.asarray(b, dtype=np.float64).ravel())
            shapes.append((W.shape, None if b is None else b.shape[0]))
        theta = jnp.asarray(np.concatenate(parts))
        loss = make_loss(cfg, X, Y, shapes)
        grad = jax.grad(loss)
        # parameters and direction are arguments (not closure constants) so XLA does not try
        # to constant-fold the whole forward pass
        hvp_at = jax.jit(lambda th, v: jax.jvp(grad, (th,), (v,))[1])
        hvp = lambda v: hvp_at(theta, v)  # noqa: E731
        L = float(jax.jit(loss)(theta))
        row = rows.get(step)
        if row is None:
            print(f"step {step}: not in metrics.csv")
            ok = False
            continue
        rel_l = abs(L - float(row["train_loss"])) / abs(L)
        worst_loss = max(worst_loss, rel_l)
        msg = f"step {step}: loss jax {L:.10g} engine {float(row['train_loss']):.10g} (rel {rel_l:.1e})"
        if row.get("lambda_1"):
            lam = lanczos_top(lambda v: hvp(jnp.asarray(v)), theta.shape[0])[0]
            rel_lam = abs(lam - float(row["lambda_1"])) / abs(lam)
            worst_lam = max(worst_lam, rel_lam)
            msg += f"; λ1 jax {lam:.8g} engine {float(row['lambda_1']):.8g} (rel {rel_lam:.1e})"
            ok &= rel_lam <= args.lambda_tol
        ok &= rel_l <= args.loss_tol
        print(msg)
    print(f"worst relative error: loss {worst_loss:.2e} (tol {args.loss_tol:g}), λ1 {worst_lam:.2e} (tol {args.lambda_tol:g})")
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
