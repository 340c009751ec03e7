# Dense pass over the calibration text: keeps every FFN activation h (fp16) and the
# residual RMS before the FFN for each layer and token.
import numpy as np, sys
from sim import *
m = Model()
n_chunks = int(sys.argv[1])
toks = tokens("cal")
H = np.zeros((m.L, n_chunks * 512, m.dff), dtype=np.float16)
R = np.zeros((m.L, n_chunks * 512), dtype=np.float32)
for c in range(n_chunks):
    def obs(l, x, h, c=c):
        H[l, c * 512:(c + 1) * 512] = h
        R[l, c * 512:(c + 1) * 512] = np.sqrt(np.mean(x * x, axis=1))
    forward(m, toks[c * 512:(c + 1) * 512], dense_ffn, None, obs)
    print("cal chunk", c, flush=True)
np.save(os.path.join(EXP, "cal_h.npy"), H); np.save(os.path.join(EXP, "cal_r.npy"), R)
