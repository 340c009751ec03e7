import sys, numpy as np
from sim import *
from rules import *
m = Model()
cal = Cal()
n = int(sys.argv[1]); s = float(sys.argv[2]); names = sys.argv[3:]

def hnorm(alpha, ref):
    return lambda l, xr, h: (np.sqrt(np.mean(np.asarray(h, np.float32) ** 2, axis=1, keepdims=True)) / ref[l]) ** alpha
def rnorm(alpha, ref):
    return lambda l, xr, h: (xr / ref[l]) ** alpha

def make(name):
    if name == "base": return Rule(cal, s)
    if name.startswith("first"): return Rule(cal, s, dense_first=int(name[5:]))
    if name == "cmean": return Rule(cal, s, compensate="const", Wd=m.Wd)
    if name == "nmean": return Rule(cal, s, compensate="neuron", Wd=m.Wd)
    if name.startswith("hnorm"):
        ref = [float(np.median(np.sqrt(np.mean(cal.layer(l) ** 2, axis=1)))) for l in range(cal.L)]
        return Rule(cal, s, token_scale=hnorm(float(name[5:]), ref))
    if name.startswith("rnorm"):
        ref = [float(np.median(cal.R[l])) for l in range(cal.L)]
        return Rule(cal, s, token_scale=rnorm(float(name[5:]), ref))
    if name.startswith("nq"):  # per-neuron scale: RMS of |h_i| ^ beta
        beta = float(name[2:])
        ns = []
        for l in range(cal.L):
            q = np.sqrt(np.mean(cal.layer(l) ** 2, axis=0))
            ns.append(((q / np.mean(q)) ** beta).astype(np.float32))
        return Rule(cal, s, neuron_scale=ns)
    if name.startswith("fw"):  # keep when |h_i| * w_i^gamma > t, w_i^2 = E[(dL/dh_i)^2]
        gamma = float(name[2:]); w = np.sqrt(np.load(os.path.join(EXP, "fisher_w2.npy"))).astype(np.float32)
        return Rule(cal, s, neuron_scale=[(w[l] / w[l].mean()) ** (-gamma) for l in range(cal.L)])
    raise SystemExit("unknown " + name)

for name in names:
    eval_rule(m, make(name), n, tag=f"{name} s={s}")
