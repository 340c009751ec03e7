"""Sparsity rules for sim.forward: each keeps neuron i of token t when
|h_ti| > t_l * scale(t, i); t_l is calibrated on the calibration activations so a
fraction `s` of them fall at or below."""
import os
import numpy as np
from sim import EXP

class Cal:
    def __init__(self):
        self.H = np.load(os.path.join(EXP, "cal_h.npy"), mmap_mode="r")  # (L, N, dff) fp16
        self.R = np.load(os.path.join(EXP, "cal_r.npy"))                # (L, N)
        self.L, self.N, self.dff = self.H.shape

    def layer(self, l, stride=4):
        return np.asarray(self.H[l, ::stride], dtype=np.float32)


def quantile_threshold(v, s):
    v = v.ravel()
    k = int(s * v.size)
    return float(np.partition(v, k)[k])


class Rule:
    """token_scale(l, x, h) -> (T,1) or None; neuron_scale[l] -> (dff,) or None;
    dense_first: positions < it computed densely; compensate: conditional-mean."""
    def __init__(self, cal, s, token_scale=None, neuron_scale=None, dense_first=0, compensate=None, Wd=None):
        self.token_scale, self.neuron_scale, self.dense_first = token_scale, neuron_scale, dense_first
        self.t, self.m, self.bias, self.compensate = [], [], [], compensate
        for l in range(cal.L):
            h = cal.layer(l)
            sc = np.ones((h.shape[0], 1), np.float32)
            if token_scale:
                x_rms = cal.R[l, ::4][:, None]
                sc = token_scale(l, x_rms, h)
            if neuron_scale is not None:
                sc = sc * neuron_scale[l][None, :]
            r = np.abs(h) / sc
            t = quantile_threshold(r, s)
            self.t.append(t)
            if compensate:
                drop = r <= t
                if compensate == "neuron":   # E[h_i | dropped]
                    m = (h * drop).sum(0) / np.maximum(drop.sum(0), 1)
                else:                        # constant: E[h_i 1{dropped}] -> bias only
                    m = (h * drop).mean(0)
                self.m.append(m.astype(np.float32))
                self.bias.append((m @ Wd[l]).astype(np.float32))

    def __call__(self, m, l, x, h):
        T = h.shape[0]
        sc = np.ones((T, 1), np.float32)
        if self.token_scale:
            sc = self.token_scale(l, np.sqrt(np.mean(x * x, axis=1))[:, None], h)
        if self.neuron_scale is not None:
            sc = sc * self.neuron_scale[l][None, :]
        keep = np.abs(h) > self.t[l] * sc
        if self.dense_first:
            keep[:self.dense_first] = True
        if self.m and self.m[l] is not None:
            hk = np.where(keep, h - (self.m[l][None, :] if self.compensate == "neuron" else 0), 0.0)
            if self.dense_first:
                hk[:self.dense_first] = h[:self.dense_first]
            out = hk @ m.Wd[l]
            b = np.tile(self.bias[l], (T, 1))
            if self.dense_first: b[:self.dense_first] = 0
            return out + b, int(keep.sum())
        return (h * keep) @ m.Wd[l], int(keep.sum())
