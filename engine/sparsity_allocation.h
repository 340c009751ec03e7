// Sharing a mean sparsity between layers by measured sensitivity (as TEAL,
// arXiv 2408.14690, allocates its per-layer sparsity): given, for every layer l,
// the cost c_l(s) of running that layer alone at sparsity s (e.g. the rise of the
// mean NLL, engine/layer_sensitivity.h) at a few measured levels, choose s_l for
// every layer so that mean_l s_l = target and sum_l c_l(s_l) is least.
//
// The cost between measured levels is piecewise linear, through c_l(0) = 0; levels
// are multiples of `step` in [0, the largest measured level]; the sum of the layers'
// steps is round(target * n_layers / step), so the mean is the target to within
// step / (2 n_layers). Solved exactly (for that discretisation) by dynamic
// programming over (layer, steps used): n_layers x total x steps-per-layer work.
// (Every layer counts the same: all layers
// of the models we read have the same number of FFN neurons.)
#pragma once
#include <span>
#include <vector>

namespace actinfer {

// Measured costs are made non-decreasing in s, each point the largest measured at
// or below its level, and at least 0 (c(0) = 0 is exact: nothing is dropped).
// Dropping more neurons of a layer drops a superset of them, so a cost that falls
// with s (or below zero) is measurement noise on few tokens; trusting it would
// make the solver pour sparsity into a layer for luck it had on the sweep text.
std::vector<double> monotone_costs(std::span<const double> measured);

// c(s) from the costs at `levels` (strictly increasing, in (0, 1)), linear between
// them and from (0, 0) to the first; s in [0, levels.back()].
double interpolate_cost(std::span<const double> levels, std::span<const double> cost, double s);

// The per-layer sparsity levels (multiples of step) minimising the summed cost
// (costs[layer][level], made monotone by monotone_costs) with mean target.
// Throws std::invalid_argument naming the problem: no layers, levels not strictly
// increasing in (0, 1), a cost row of the wrong length or not finite, step not
// in (0, 0.5], or target outside [0, levels.back()].
std::vector<double> allocate_sparsity(std::span<const double> levels, const std::vector<std::vector<double>>& costs, double target,
                                      double step = 0.01);

}  // namespace actinfer
