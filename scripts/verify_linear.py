#!/usr/bin/env python3
"""Independent numpy re-check of an `eos-explorer simulate linear --out DIR` run.

Usage:  python3 scripts/verify_linear.py DIR [--tol 1e-9] [--fd-tol 1e-6] [--no-fd]

Needs DIR/metrics.csv, DIR/config.json, DIR/train.npz (--save-data) and at least one
DIR/params_step{N}.npz (--save-params). For every saved step N it recomputes, from A, W, X, Y
alone (nothing from the Rust code):

  loss = |F - Y|^2 / n,  |A|^2,  |W|_F^2,  <F, D>,  lambda_1(M),  v1^T M v1,
  exact sharpness = top eigenvalue of the loss Hessian w.r.t. (W, A)

with F = X^T W^T A / sqrt(m), D = F - Y, Sigma = X^T X, M = 2(|A|^2 Sigma + X^T W^T W X)/(mn),
and compares them with row N of metrics.csv (relative error; <F,D> relative to
max(|<F,D>|, |F~||D|) with F~ = |W X|^T |A| / sqrt(m) the size of the terms summed into F, since
F = 0 exactly at a symmetric initialisation while numpy's summation order leaves ~1e-17).

The Hessian is assembled analytically: H = (2/n) J^T J + R, J = dF/dtheta (n x p), R the residual
part (entries 2 (XD)_k / (n sqrt m) coupling W[j,k] with A[j]). For p <= 3000 all eigenvalues
are computed densely; above, H is restricted to its invariant subspace
span{A (x) e_k} + span{e_j (x) XD} (W block) + span{e_j} (A block), outside which H vanishes
(the script checks that the restriction captures all of H: ||H Q||_F = ||Q^T H Q||_F).

Finite-difference check (tolerance --fd-tol, default 1e-6, because central differences of the
analytic gradient carry an O(h^2) truncation error): the Hessian restricted to the same
subspace is rebuilt from differences of the gradient and its top eigenvalue compared.

If two consecutive steps N, N+1 are saved, the corrected Lemma 4 / Lemma 5 updates are checked
on them (relative residual <= --tol) and the printed Lemma 5 is reported.

Exit status: 0 if every error is within tolerance, 1 otherwise, 2 on bad input.
"""

import argparse
import csv
import glob
import json
import os
import re
import sys

import numpy as np


def load_npz(path, *names):
    with np.load(path) as z:
        return [np.asarray(z[k], dtype=np.float64) for k in names]


class Point:
    def __init__(self, X, Y, W, A):
        self.X, self.Y, self.W, self.A = X, Y, W, A
        self.m, self.d = W.shape
        self.n = X.shape[1]
        self.sm = np.sqrt(self.m)
        self.H = W @ X  # m x n
        self.F = self.H.T @ A / self.sm
        self.D = self.F - Y
        self.r = X @ self.D  # X D
        self.Sigma = X.T @ X

    def loss(self):
        return float(self.D @ self.D) / self.n

    def gram(self):
        return (float(self.A @ self.A) * self.Sigma + self.H.T @ self.H) * (2.0 / (self.m * self.n))

    def jacobian(self):
        # dF_i/dW[j,k] = A_j X[k,i]/sqrt(m) ; dF_i/dA_j = (W X)[j,i]/sqrt(m)
        m, d, n = self.m, self.d, self.n
        JW = (self.A[None, :, None] * self.X.T[:, None, :]).reshape(n, m * d) / self.sm
        JA = self.H.T / self.sm
        return np.hstack([JW, JA])

    def hess_apply(self, V):
        """H V for a p x k block V, from J and the residual coupling."""
        m, d, n = self.m, self.d, self.n
        J = self.jacobian()
        out = (2.0 / n) * (J.T @ (J @ V))
        c = 2.0 / (n * self.sm)
        VW = V[: m * d].reshape(m, d, -1)
        VA = V[m * d:]
        # W rows get c * r_k * V_A[j];  A entries get c * sum_k r_k V_W[j,k]
        out[: m * d] += (c * self.r[None, :, None] * VA[:, None, :]).reshape(m * d, -1)
        out[m * d:] += c * np.einsum("k,jkc->jc", self.r, VW)
        return out

    def hessian(self):
        p = self.m * self.d + self.m
        return self.hess_apply(np.eye(p))

    def gradient(self, theta):
        m, d = self.m, self.d
        W = theta[: m * d].reshape(m, d)
        A = theta[m * d:]
        D = (W @ self.X).T @ A / self.sm - self.Y
        r = self.X @ D
        c = 2.0 / (self.n * self.sm)
        return np.concatenate([(c * np.outer(A, r)).ravel(), c * (W @ r)])

    def theta(self):
        return np.concatenate([self.W.ravel(), self.A])

    def subspace(self):
        m, d = self.m, self.d
        p = m * d + m
        cols = []
        for k in range(d):  # A (x) e_k
            v = np.zeros(p)
            v[: m * d] = np.outer(self.A, np.eye(d)[k]).ravel()
            cols.append(v)
        for j in range(m):  # e_j (x) r
            v = np.zeros(p)
            v[j * d:(j + 1) * d] = self.r
            cols.append(v)
        for j in range(m):  # A block
            v = np.zeros(p)
            v[m * d + j] = 1.0
            cols.append(v)
        B = np.array(cols).T
        U, s, _ = np.linalg.svd(B, full_matrices=False)
        keep = s > 1e-12 * s.max()
        return U[:, keep]


def sharpness(pt, fd_h=None):
    """Top Hessian eigenvalue (dense if small, else on the invariant subspace); with fd_h,
    the same from central differences of the gradient (restricted to the subspace)."""
    p = pt.m * pt.d + pt.m
    Q = pt.subspace()
    HQ = pt.hess_apply(Q)
    small = Q.T @ HQ
    captured = abs(np.linalg.norm(HQ) - np.linalg.norm(small)) / max(np.linalg.norm(HQ), 1e-300)
    ev = np.linalg.eigvalsh((small + small.T) / 2)
    top = ev[-1]
    if Q.shape[1] < p:
        top = max(top, 0.0)  # H vanishes on the complement
    full = None
    if p <= 3000:
        H = pt.hessian()
        full = np.linalg.eigvalsh((H + H.T) / 2)[-1]
    fd = None
    if fd_h is not None:
        th = pt.theta()
        G = np.empty_like(Q)
        for i in range(Q.shape[1]):
            G[:, i] = (pt.gradient(th + fd_h * Q[:, i]) - pt.gradient(th - fd_h * Q[:, i])) / (2 * fd_h)
        sm = Q.T @ G
        fd = np.linalg.eigvalsh((sm + sm.T) / 2)[-1]
        if Q.shape[1] < p:
            fd = max(fd, 0.0)
    return top, full, fd, captured


def rel(got, want, scale=None):
    s = abs(want) if scale is None else max(abs(want), scale)
    if s == 0.0:
        return abs(got)
    return abs(got - want) / s


def lemma_checks(p0, p1, eta):
    """Relative residuals of Lemma 4 and Lemma 5 (corrected and printed) for one step."""
    m, n = p0.m, p0.n
    S = p0.Sigma
    F, D, A2 = p0.F, p0.D, float(p0.A @ p0.A)
    fd = float(F @ D)
    M0, M1 = p0.gram(), p1.gram()
    # Lemma 4
    lhs = p1.D - p0.D
    t1 = -eta * M0 @ D
    t2 = 4 * eta**2 / (n**2 * m) * fd * (S @ D)
    r4 = np.linalg.norm(lhs - t1 - t2) / max(np.linalg.norm(lhs), np.linalg.norm(t1) + np.linalg.norm(t2))
    # Lemma 5
    dM = M1 - M0
    SD = S @ D
    WXD2 = float(np.sum((p0.H @ D) ** 2))
    c1 = 4 * eta / (n**2 * m)
    c2 = 8 * eta**2 / (n**3 * m**2)
    terms = [-c1 * 2 * fd * S, -c1 * np.outer(F, SD), -c1 * np.outer(SD, F), c2 * WXD2 * S, c2 * A2 * np.outer(SD, SD)]
    scale = max(np.linalg.norm(dM), sum(np.linalg.norm(t) for t in terms))
    corrected = sum(terms)
    printed = terms[0] + terms[1] - terms[2] + terms[3] + terms[4]
    r5c = np.linalg.norm(dM - corrected) / scale
    r5p = np.linalg.norm(dM - printed) / scale
    return r4, r5c, r5p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-9)
    ap.add_argument("--fd-tol", type=float, default=1e-6)
    ap.add_argument("--no-fd", action="store_true", help="skip the finite-difference Hessian check")
    args = ap.parse_args()
    d = args.dir
    try:
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(d, "metrics.csv")) as f:
            rows = list(csv.DictReader(f))
        X, Y = load_npz(os.path.join(d, "train.npz"), "X", "Y")
    except (OSError, KeyError, ValueError) as e:
        print(f"cannot read the run in {d}: {e} (need metrics.csv, config.json and train.npz from --save-data)")
        return 2
    eta = float(cfg["params"]["lr"])
    by_t = {int(float(r["t"])): r for r in rows}
    snaps = {}
    for path in glob.glob(os.path.join(d, "params_step*.npz")):
        mt = re.search(r"params_step(\d+)\.npz$", path)
        if mt:
            snaps[int(mt.group(1))] = path
    if not snaps:
        print(f"no params_step*.npz in {d} (run with --save-params)")
        return 2

    quantities = ["loss", "a_norm2", "w_norm2", "f_dot_d", "lambda1_m", "v1_m_v1", "sharpness"]
    worst = {q: 0.0 for q in quantities}
    worst_fd = 0.0
    worst_capture = 0.0
    worst_full = 0.0
    points = {}
    eigS, V = np.linalg.eigh(X.T @ X)
    v1 = V[:, -1]
    for t in sorted(snaps):
        W, A = load_npz(snaps[t], "W", "A")
        pt = Point(X, Y, W, A)
        points[t] = pt
        row = by_t.get(t)
        if row is None:
            print(f"step {t}: no row in metrics.csv (run diverged before it?)")
            continue
        M = pt.gram()
        fdot = float(pt.F @ pt.D)
        want = {
            "loss": pt.loss(),
            "a_norm2": float(A @ A),
            "w_norm2": float(np.sum(W * W)),
            "f_dot_d": fdot,
            "lambda1_m": np.linalg.eigvalsh(M)[-1],
            "v1_m_v1": float(v1 @ M @ v1),
        }
        fd_h = None if args.no_fd else 1e-5
        top, full, fdtop, captured = sharpness(pt, fd_h)
        want["sharpness"] = top
        worst_capture = max(worst_capture, captured)
        if full is not None:
            worst_full = max(worst_full, rel(top, full))
        if fdtop is not None:
            worst_fd = max(worst_fd, rel(fdtop, top))
        line = [f"step {t}:"]
        for q in quantities:
            cell = row.get(q, "")
            if cell == "":
                line.append(f"{q}=n/a")
                continue
            got = float(cell)
            # F's terms A_j (W x_i)_j may cancel (exactly, at a symmetric init): measure <F,D>
            # against the size of those terms.
            f_terms = np.abs(pt.H).T @ np.abs(pt.A) / pt.sm
            scale = np.linalg.norm(f_terms) * np.linalg.norm(pt.D) if q == "f_dot_d" else None
            e = rel(got, want[q], scale)
            worst[q] = max(worst[q], e)
            line.append(f"{q} {e:.1e}")
        print(" ".join(line))

    ok = True
    print("\nmax relative errors (tolerance %.0e):" % args.tol)
    for q in quantities:
        flag = "ok" if worst[q] <= args.tol else "FAIL"
        ok &= worst[q] <= args.tol
        print(f"  {q:10s} {worst[q]:.2e}  {flag}")
    flag = "ok" if worst_capture <= args.tol else "FAIL"
    ok &= worst_capture <= args.tol
    print(f"  invariant-subspace capture of H  {worst_capture:.2e}  {flag}")
    if worst_full:
        flag = "ok" if worst_full <= args.tol else "FAIL"
        ok &= worst_full <= args.tol
        print(f"  subspace vs full dense eigvalsh  {worst_full:.2e}  {flag}")
    if not args.no_fd:
        flag = "ok" if worst_fd <= args.fd_tol else "FAIL"
        ok &= worst_fd <= args.fd_tol
        print(f"  finite-difference Hessian top eigenvalue (tolerance {args.fd_tol:.0e})  {worst_fd:.2e}  {flag}")

    pairs = [t for t in sorted(points) if t + 1 in points]
    for t in pairs:
        r4, r5c, r5p = lemma_checks(points[t], points[t + 1], eta)
        good = r4 <= args.tol and r5c <= args.tol
        ok &= good
        print(f"  step {t}->{t + 1}: Lemma 4 {r4:.1e}, Lemma 5 corrected {r5c:.1e} "
              f"({'ok' if good else 'FAIL'}), Lemma 5 as printed {r5p:.1e}")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
