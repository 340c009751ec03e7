#include "engine/sparsity_allocation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace actinfer {

std::vector<double> monotone_costs(std::span<const double> measured) {
  std::vector<double> out(measured.size());
  double running = 0;
  for (size_t k = 0; k < measured.size(); ++k) out[k] = running = std::max(running, measured[k]);
  return out;
}

double interpolate_cost(std::span<const double> levels, std::span<const double> cost, double s) {
  double s0 = 0, c0 = 0;
  for (size_t k = 0; k < levels.size(); ++k) {
    if (s <= levels[k]) return c0 + (cost[k] - c0) * (s - s0) / (levels[k] - s0);
    s0 = levels[k];
    c0 = cost[k];
  }
  return c0;  // s at (or by rounding a hair past) the last level
}

std::vector<double> allocate_sparsity(std::span<const double> levels, const std::vector<std::vector<double>>& costs, double target,
                                      double step) {
  const size_t n_layers = costs.size();
  if (n_layers == 0) throw std::invalid_argument("sparsity allocation: no layers");
  if (levels.empty()) throw std::invalid_argument("sparsity allocation: no measured levels");
  for (size_t k = 0; k < levels.size(); ++k)
    if (!(levels[k] > (k == 0 ? 0.0 : levels[k - 1]) && levels[k] < 1))
      throw std::invalid_argument("sparsity allocation: levels must increase strictly within (0, 1), level " + std::to_string(k) + " is " +
                                  std::to_string(levels[k]));
  for (size_t l = 0; l < n_layers; ++l) {
    if (costs[l].size() != levels.size())
      throw std::invalid_argument("sparsity allocation: layer " + std::to_string(l) + " has " + std::to_string(costs[l].size()) +
                                  " costs for " + std::to_string(levels.size()) + " levels");
    for (double c : costs[l])
      if (!std::isfinite(c)) throw std::invalid_argument("sparsity allocation: layer " + std::to_string(l) + " has a cost that is not finite");
  }
  if (!(step > 0 && step <= 0.5)) throw std::invalid_argument("sparsity allocation: step must be in (0, 0.5], got " + std::to_string(step));
  if (!(target >= 0 && target <= levels.back() + 1e-9))  // (a target computed as steps * step / n_layers may round up a hair)
    throw std::invalid_argument("sparsity allocation: target " + std::to_string(target) + " outside [0, " + std::to_string(levels.back()) +
                                "] (the largest measured level)");

  // Steps per layer at most U (the largest measured level, rounded down), in all T.
  const int U = static_cast<int>(std::floor(levels.back() / step + 1e-9));
  const int T = static_cast<int>(std::lround(target * static_cast<double>(n_layers) / step));
  if (T > U * static_cast<int>(n_layers))
    throw std::invalid_argument("sparsity allocation: target " + std::to_string(target) + " needs more than the largest level on every layer");

  std::vector<std::vector<double>> cost(n_layers, std::vector<double>(static_cast<size_t>(U) + 1));
  for (size_t l = 0; l < n_layers; ++l) {
    const std::vector<double> mono = monotone_costs(costs[l]);
    for (int u = 0; u <= U; ++u) cost[l][static_cast<size_t>(u)] = interpolate_cost(levels, mono, u * step);
  }

  // best[j]: least cost of the layers so far using j steps; choice[l][j]: layer l's steps there.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> best(static_cast<size_t>(T) + 1, kInf), next(best.size());
  best[0] = 0;
  std::vector<std::vector<int>> choice(n_layers, std::vector<int>(best.size(), -1));
  for (size_t l = 0; l < n_layers; ++l) {
    std::fill(next.begin(), next.end(), kInf);
    for (int j = 0; j <= T; ++j)
      for (int u = 0; u <= std::min(U, j); ++u) {
        const double v = best[static_cast<size_t>(j - u)] + cost[l][static_cast<size_t>(u)];
        if (v < next[static_cast<size_t>(j)]) {
          next[static_cast<size_t>(j)] = v;
          choice[l][static_cast<size_t>(j)] = u;
        }
      }
    best.swap(next);
  }
  std::vector<double> s(n_layers);
  int j = T;
  for (size_t l = n_layers; l-- > 0;) {
    const int u = choice[l][static_cast<size_t>(j)];
    s[l] = u * step;
    j -= u;
  }
  return s;
}

}  // namespace actinfer
