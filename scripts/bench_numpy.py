#!/usr/bin/env python3
"""bench_numpy.py N D K [REPS] - a plain NumPy full-batch gradient step of
the quadratic student (Wang & Abernethy (5), (9)) on N x D Gaussian data:
the same work as one tsim iteration (forward, residuals, loss, gradient
X^T (r .* U), the Hessian form along V, the step). Prints the best wall
time and the best CPU time per step in ms (CPU time is what the step
costs on a loaded machine). Run with OPENBLAS_NUM_THREADS=1 (one thread, like one rank)."""
import sys
import time

import numpy as np


def main():
    n, d, k = int(float(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    y = x[:, 0] ** 2
    w = 0.01 * rng.standard_normal((d, k)) / np.sqrt(d)
    v = rng.standard_normal((d, k))
    c, s, eta = 1.0, 0.25, 1e-4
    best = best_cpu = float("inf")
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        u = x @ w
        vx = x @ v
        r = c * np.sum(u * u, axis=1) - y
        loss = s * np.mean(r * r)
        hess = s * np.mean(4 * c * r * np.sum(vx * vx, axis=1)
                           + 8 * c * c * np.sum(u * vx, axis=1) ** 2)
        grad = (4 * s * c / n) * (x.T @ (r[:, None] * u))
        w = w - eta * grad
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    assert np.isfinite(loss) and np.isfinite(hess)
    print(f"{best * 1e3:.3f} {best_cpu * 1e3:.3f}")


if __name__ == "__main__":
    main()
