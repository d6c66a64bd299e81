"""Gradient descent at the edge of stability in PyTorch, logged for eos-explorer.

A tanh MLP trained with full-batch gradient descent on a small dataset (a 5,000-image subset
of CIFAR-10 when torchvision can load it, else a synthetic regression problem); every --every
steps the top Hessian eigenvalues of the training loss are computed by Lanczos
(scipy.sparse.linalg.eigsh on a LinearOperator) over Hessian-vector products by double
backward (``torch.autograd.grad`` with ``create_graph=True``, then the gradient of
``grad . v``): no Hessian is ever formed. Runs on the GPU when there is one. The rows go to a
run folder through ``python/eos_run.py`` (standard library only).

The defaults are those of eos-explorer's ``--preset cohen-fig1`` (CIFAR-10 5k, 3072-200-200-10
tanh, MSE, eta = 0.02 so 2/eta = 100, two eigenvalues every 20 steps, Lanczos tolerance 1e-3,
warm-started from the last top eigenvector), after Cohen et al. (2021), so the two runs can be
drawn together: ``eos-explorer plot runs/torch-mlp runs/fig1 --figure sharpness --out both.svg``
(the inputs are standardised over the 5k subset here, so the numbers differ a little).

Run (needs PyTorch, NumPy and SciPy; torchvision for CIFAR-10):

    python3 python/examples/torch_sharpness.py --out runs/torch-mlp --steps 2000
    python3 python/examples/torch_sharpness.py --dataset synthetic --steps 1500 --lr 0.3

Open the result, or follow it live while it runs (the Runs workspace follows a folder whose
metrics.csv changed in the last 30 s; a folder on a cluster works when it is synced or
mounted):

    eos-explorer --open runs/torch-mlp
    eos-explorer plot runs/torch-mlp --figure sharpness --out torch-mlp.svg

With several GPUs (DistributedDataParallel), compute the full-batch loss and HVPs as your
training does and let rank 0 alone create the RunWriter and log.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from eos_run import RunWriter  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/torch-mlp", help="the run folder to write")
    p.add_argument("--dataset", choices=["cifar10", "synthetic"], default="cifar10")
    p.add_argument("--data-dir", default="data", help="where torchvision keeps CIFAR-10")
    p.add_argument("--n", type=int, default=5000, help="training points")
    p.add_argument("--steps", type=int, default=2000, help="updates (rows 0..steps)")
    p.add_argument("--lr", type=float, default=0.02, help="learning rate eta")
    p.add_argument("--every", type=int, default=20, help="eigenvalues every k steps")
    p.add_argument("--neigs", type=int, default=2, help="top eigenvalues to compute")
    p.add_argument("--width", type=int, default=200, help="hidden units per layer")
    p.add_argument("--overwrite", action="store_true", help="clear an earlier run in --out")
    p.add_argument("--seed", type=int, default=0, help="random number generator state")
    return p.parse_args()


def load_data(a, device):
    """(X, Y, name): inputs n x d and one-hot / real targets, for an MSE loss."""
    g = torch.Generator().manual_seed(a.seed)
    if a.dataset == "cifar10":
        try:
            import torchvision
            ds = torchvision.datasets.CIFAR10(a.data_dir, train=True, download=True)
            x = torch.tensor(ds.data[: a.n], dtype=torch.float32).reshape(a.n, -1) / 255.0
            x = (x - x.mean(0)) / (x.std(0) + 1e-8)
            labels = torch.tensor(ds.targets[: a.n])
            y = torch.nn.functional.one_hot(labels, 10).float()
            return x.to(device), y.to(device), f"cifar10-{a.n // 1000}k"
        except Exception as e:  # no torchvision, no network: fall back, and say so
            print(f"CIFAR-10 not available ({e}); using the synthetic problem", file=sys.stderr)
    d = 8
    x = torch.randn(a.n, d, generator=g)
    teacher = torch.randn(d, 1, generator=g) / d ** 0.5
    y = torch.sin(2.0 * x @ teacher) + 0.5 * torch.cos(x[:, :1])
    return x.to(device), y.to(device), f"synthetic-{a.n}"


def main():
    a = parse_args()
    torch.manual_seed(a.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x, y, data_name = load_data(a, device)
    sizes = [x.shape[1], a.width, a.width, y.shape[1]]
    layers = [torch.nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]
    model = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1], torch.nn.Tanh(),
                                layers[2]).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)

    def loss_fn():
        # MSE as eos-explorer reports it: 1/2 mean squared error summed over outputs.
        r = model(x) - y
        return 0.5 * (r * r).sum(dim=1).mean()

    def accuracy():
        if y.shape[1] == 1:
            return None  # regression
        with torch.no_grad():
            return (model(x).argmax(1) == y.argmax(1)).float().mean().item()

    def top_eigs(k, v0):
        """Top-k Hessian eigenvalues (largest first), HVPs used, largest Ritz residual."""
        loss = loss_fn()
        grads = torch.autograd.grad(loss, params, create_graph=True)
        flat_grad = torch.cat([g.reshape(-1) for g in grads])
        count = [0]

        def hvp(v):
            count[0] += 1
            v = torch.as_tensor(np.ravel(v), dtype=flat_grad.dtype, device=device)
            hv = torch.autograd.grad(flat_grad @ v, params, retain_graph=True)
            return torch.cat([h.reshape(-1) for h in hv]).double().cpu().numpy()

        op = LinearOperator((n_params, n_params), matvec=hvp, dtype=np.float64)
        vals, vecs = eigsh(op, k=k, which="LA", v0=v0, tol=1e-3)  # as --preset cohen-fig1
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
        res = max(float(np.linalg.norm(hvp(vecs[:, i]) - vals[i] * vecs[:, i]))
                  for i in range(k))
        return [float(v) for v in vals], count[0], res, vecs[:, 0]

    v0 = np.random.default_rng(a.seed).standard_normal(n_params)
    info = {
        "program": "torch_sharpness.py",
        "version": f"torch {torch.__version__}",
        "network": "fc-tanh " + "-".join(map(str, sizes)),
        "parameters": int(n_params),
        "dataset": data_name,
        "train_samples": int(x.shape[0]),
    }
    lam_cols = [f"lambda_{i + 1}" for i in range(a.neigs)]
    columns = ["wall_s", "lr", "train_loss", "train_acc"] + lam_cols + [
        "hvps", "lanczos_residual", "grad_norm", "threshold"]
    compute = 0.0
    with RunWriter(a.out, config=info, overwrite=a.overwrite, columns=columns) as run:
        run.write_json("settings.json", {**vars(a), "device": str(device)})
        for t in range(a.steps + 1):
            t0 = time.perf_counter()
            # Row t is measured at theta_t, before the update of step t.
            model.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            with torch.no_grad():
                grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in params)).item()
            row = {"train_loss": loss.item(), "train_acc": accuracy(), "grad_norm": grad_norm}
            diverged = not np.isfinite(row["train_loss"])
            if not diverged and (t % a.every == 0 or t == a.steps):
                lams, hvps, res, v0 = top_eigs(a.neigs, v0)  # leaves p.grad alone; warm start
                row.update(zip(lam_cols, lams), hvps=hvps, lanczos_residual=res)
            if t < a.steps and not diverged:
                with torch.no_grad():
                    for p in params:
                        p -= a.lr * p.grad
            if device.type == "cuda":
                torch.cuda.synchronize()
            compute += time.perf_counter() - t0
            run.log(t, wall_s=compute, lr=a.lr, threshold=2 / a.lr, **row)
            if diverged:
                break  # close() records the divergence
    print(f"wrote {a.out}: open it with `eos-explorer --open {a.out}`")


if __name__ == "__main__":
    main()
