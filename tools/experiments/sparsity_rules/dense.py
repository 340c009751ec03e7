from sim import *
m = Model()
eval_rule(m, dense_ffn, int(sys.argv[1]), tag="dense")
