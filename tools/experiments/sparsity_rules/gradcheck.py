import numpy as np
from sim import *
from grad import run
m = Model(); rng = np.random.default_rng(0)
toks = tokens("cal")[1000:1012]; T = len(toks)
y = rng.integers(0, 49152, T)
cap = {}; acc = np.zeros((m.L, m.dff)); an = np.zeros(m.L)
run(m, toks, rng, acc, an, y=y, capture=cap)
def loss(l0, t0, i0, e):
    def f(m_, l, x, h):
        if l == l0: h = h.copy(); h[t0, i0] += e
        return h @ m.Wd[l], 0
    lp, _ = forward(m, toks, f, 0)  # rows 0..T-2
    return -sum(lp[p, y[p]] for p in range(T - 1))
for (l, t, i) in [(29, 5, 7), (15, 3, 100), (2, 0, 55), (0, 8, 1000)]:
    e = 1e-2
    fd = (loss(l, t, i, e) - loss(l, t, i, -e)) / (2 * e)
    print(l, t, i, "fd", fd, "bwd", cap[l][t, i])
