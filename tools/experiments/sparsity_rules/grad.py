# Per-neuron downstream sensitivity: w_i^2 = E_t[(dL/dh_ti)^2] on the calibration
# text, L = the NLL of labels sampled from the model itself (so E[g g^T] is the
# Fisher), by a hand-written backward pass of sim.forward (dense model).
import numpy as np, sys
from sim import *

def rms_bwd(x, g, dy, eps):
    r = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    gdy = dy * g
    return r * gdy - x * (r ** 3) * np.mean(x * gdy, axis=-1, keepdims=True)

def run(m, toks, rng, acc, acc_n, y=None, capture=None):
    T = len(toks); G = m.nh // m.nkv
    x = m.emb[np.asarray(toks)].copy()
    pos = np.arange(T, dtype=np.float64); th = pos[:, None] * m.inv[None, :]
    cos = np.cos(th).astype(np.float32)[:, None, :]; sin = np.sin(th).astype(np.float32)[:, None, :]
    mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
    cache = []
    for l in range(m.L):
        x_in = x.copy()
        a = rmsnorm(x, m.an[l], m.eps)
        q = rope((a @ m.Wq[l]).reshape(T, m.nh, m.hd), cos, sin)
        k = rope((a @ m.Wk[l]).reshape(T, m.nkv, m.hd), cos, sin)
        v = (a @ m.Wv[l]).reshape(T, m.nkv, m.hd)
        o = np.empty((T, m.nh, m.hd), dtype=np.float32); P = []
        for hq in range(m.nh):
            s = q[:, hq, :] @ k[:, hq // G, :].T * (1.0 / np.sqrt(m.hd)) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True)); s /= s.sum(axis=1, keepdims=True)
            P.append(s); o[:, hq, :] = s @ v[:, hq // G, :]
        x += o.reshape(T, m.d) @ m.Wo[l]
        x_mid = x.copy()
        xn = rmsnorm(x, m.fn[l], m.eps)
        gu = xn @ m.Wgu[l]
        gg, uu = gu[:, :m.dff], gu[:, m.dff:]
        h = silu(gg) * uu
        x += h @ m.Wd[l]
        cache.append((x_in, a, q, k, v, P, o, x_mid, xn, gg, uu))
    z = rmsnorm(x, m.onorm, m.eps) @ m.out.T
    z = z - z.max(axis=1, keepdims=True); p = np.exp(z); p /= p.sum(axis=1, keepdims=True)
    # labels sampled from the model (Fisher), positions 0..T-2 all scored
    cdf = np.cumsum(p, axis=1); u = rng.random((T, 1)) * cdf[:, -1:]
    if y is None: y = (cdf < u).sum(axis=1)
    dz = p; dz[np.arange(T), y] -= 1.0; dz[T - 1] = 0
    dx = rms_bwd(x, m.onorm, dz @ m.out, m.eps)
    for l in reversed(range(m.L)):
        x_in, a, q, k, v, P, o, x_mid, xn, gg, uu = cache[l]
        dh = dx @ m.Wd[l].T
        if capture is not None: capture[l] = dh
        acc[l] += (dh[1:] ** 2).sum(0); acc_n[l] += T - 1   # position 0 left out of the statistics
        sg = 1.0 / (1.0 + np.exp(-gg))
        dgg = dh * uu * sg * (1 + gg * (1 - sg)); duu = dh * gg * sg
        dxn = np.concatenate([dgg, duu], axis=1) @ m.Wgu[l].T
        dx = dx + rms_bwd(x_mid, m.fn[l], dxn, m.eps)
        do = (dx @ m.Wo[l].T).reshape(T, m.nh, m.hd)
        dq = np.empty_like(q); dk = np.zeros_like(k); dv = np.zeros_like(v)
        for hq in range(m.nh):
            s = P[hq]; kv = hq // G
            dv[:, kv, :] += s.T @ do[:, hq, :]
            dP = do[:, hq, :] @ v[:, kv, :].T
            dS = s * (dP - np.sum(dP * s, axis=1, keepdims=True)) * (1.0 / np.sqrt(m.hd))
            dq[:, hq, :] = dS @ k[:, kv, :]
            dk[:, kv, :] += dS.T @ q[:, hq, :]
        dq = rope(dq, cos, -sin); dk = rope(dk, cos, -sin)  # inverse rotation
        da = dq.reshape(T, -1) @ m.Wq[l].T + dk.reshape(T, -1) @ m.Wk[l].T + dv.reshape(T, -1) @ m.Wv[l].T
        dx = dx + rms_bwd(x_in, m.an[l], da, m.eps)

if __name__ == "__main__":
    m = Model(); toks = tokens("cal"); rng = np.random.default_rng(1)
    n = int(sys.argv[1])
    acc = np.zeros((m.L, m.dff)); acc_n = np.zeros(m.L)
    for c in range(n):
        run(m, toks[c * 512:(c + 1) * 512], rng, acc, acc_n); print("grad chunk", c, flush=True)
        np.save(os.path.join(EXP, "fisher_w2.npy"), acc / acc_n[:, None])
