"""Experimental float32 simulation of SmolLM2 with pluggable FFN sparsity rules
(research only; not the project's reference)."""
import numpy as np, os, time, sys
from gguf import GGUFReader
from gguf.quants import dequantize

MODEL = "/work/main/models/SmolLM2-135M-Instruct.Q4_1.gguf"
EXP = os.environ.get("SIM_DIR", "build-ppl/exp")  # token files, dense log-probs, calibration arrays


class Model:
    def __init__(self, path=MODEL):
        r = GGUFReader(path)
        self.t = {t.name: t for t in r.tensors}
        f = lambda k: r.get_field(k).contents()
        self.L = int(f("llama.block_count")); self.d = int(f("llama.embedding_length"))
        self.dff = int(f("llama.feed_forward_length")); self.nh = int(f("llama.attention.head_count"))
        self.nkv = int(f("llama.attention.head_count_kv")); self.hd = self.d // self.nh
        self.eps = float(f("llama.attention.layer_norm_rms_epsilon")); self.base = float(f("llama.rope.freq_base"))
        self.emb = self.w("token_embd.weight")
        self.out = self.w("output.weight") if "output.weight" in self.t else self.emb
        self.onorm = self.w("output_norm.weight")
        g = lambda l, n: self.w(f"blk.{l}.{n}")
        self.an = [g(l, "attn_norm.weight") for l in range(self.L)]
        self.fn = [g(l, "ffn_norm.weight") for l in range(self.L)]
        self.Wq = [np.ascontiguousarray(g(l, "attn_q.weight").T) for l in range(self.L)]
        self.Wk = [np.ascontiguousarray(g(l, "attn_k.weight").T) for l in range(self.L)]
        self.Wv = [np.ascontiguousarray(g(l, "attn_v.weight").T) for l in range(self.L)]
        self.Wo = [np.ascontiguousarray(g(l, "attn_output.weight").T) for l in range(self.L)]
        self.Wgu = [np.ascontiguousarray(np.concatenate([g(l, "ffn_gate.weight"), g(l, "ffn_up.weight")]).T) for l in range(self.L)]
        self.Wd = [np.ascontiguousarray(g(l, "ffn_down.weight").T) for l in range(self.L)]  # (dff, d)
        i = np.arange(self.hd // 2, dtype=np.float64)
        self.inv = self.base ** (-2.0 * i / self.hd)

    def w(self, name):
        t = self.t[name]
        a = dequantize(t.data, t.tensor_type).astype(np.float32)
        return a.reshape(tuple(int(x) for x in reversed(t.shape)))


def rmsnorm(x, g, eps):
    return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)) * g


def rope(x, cos, sin):
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y = np.empty_like(x)
    y[..., 0::2] = x0 * cos - x1 * sin
    y[..., 1::2] = x0 * sin + x1 * cos
    return y


def silu(x):
    return x / (1.0 + np.exp(-x))


def dense_ffn(m, l, x, h):
    return h @ m.Wd[l], h.size


def forward(m, toks, ffn=dense_ffn, first_scored=None, observe=None):
    """Returns (log-probs of positions first_scored..T-2 or None, neurons computed).
    ffn(m, l, x_resid, h) -> (delta (T,d), n computed). observe(l, x_resid, h)."""
    T = len(toks)
    x = m.emb[np.asarray(toks)].copy()
    pos = np.arange(T, dtype=np.float64)
    th = pos[:, None] * m.inv[None, :]
    cos = np.cos(th).astype(np.float32)[:, None, :]; sin = np.sin(th).astype(np.float32)[:, None, :]
    mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
    G = m.nh // m.nkv
    computed = 0
    for l in range(m.L):
        a = rmsnorm(x, m.an[l], m.eps)
        q = rope((a @ m.Wq[l]).reshape(T, m.nh, m.hd), cos, sin)
        k = rope((a @ m.Wk[l]).reshape(T, m.nkv, m.hd), cos, sin)
        v = (a @ m.Wv[l]).reshape(T, m.nkv, m.hd)
        o = np.empty((T, m.nh, m.hd), dtype=np.float32)
        for hq in range(m.nh):
            s = q[:, hq, :] @ k[:, hq // G, :].T * (1.0 / np.sqrt(m.hd)) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
            o[:, hq, :] = s @ v[:, hq // G, :]
        x += o.reshape(T, m.d) @ m.Wo[l]
        xn = rmsnorm(x, m.fn[l], m.eps)
        gu = xn @ m.Wgu[l]
        h = silu(gu[:, :m.dff]) * gu[:, m.dff:]
        if observe: observe(l, x, h)
        dx, n = ffn(m, l, x, h)
        computed += n
        x += dx
    if first_scored is None: return None, computed
    z = rmsnorm(x[first_scored:T - 1], m.onorm, m.eps) @ m.out.T
    z = z - z.max(axis=1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return lp, computed


def tokens(name):
    return np.fromfile(os.path.join(EXP, name + ".tok"), dtype=np.int32)


def eval_rule(m, ffn, n_chunks, ctx=512, tag=None, verbose=True):
    """PPL, KL vs dense, fraction computed over the first n_chunks of the eval text."""
    toks = tokens("eval")
    first = ctx // 2
    nll, kl, comp, tot = [], [], 0, 0
    t0 = time.time()
    for c in range(n_chunks):
        ch = toks[c * ctx:(c + 1) * ctx]
        lp, n = forward(m, ch, ffn, first)
        comp += n; tot += ctx * m.L * m.dff
        tgt = ch[first + 1:]
        nll.append(-lp[np.arange(len(tgt)), tgt])
        dp = os.path.join(EXP, f"dense_lp_{c}.npy")
        if ffn is dense_ffn and not os.path.exists(dp):
            np.save(dp, lp.astype(np.float16))
        if os.path.exists(dp) and ffn is not dense_ffn:
            d = np.load(dp).astype(np.float32)
            kl.append(np.sum(np.exp(d) * (d - lp), axis=1))
    nll = np.concatenate(nll)
    ppl = float(np.exp(nll.mean()))
    klm = float(np.concatenate(kl).mean()) if kl else 0.0
    if verbose:
        print(f"{tag}: ppl {ppl:.4f} kl {klm:.5f} computed {comp / tot:.4f} ({n_chunks} chunks, {time.time() - t0:.0f}s)", flush=True)
    return ppl, klm, comp / tot
