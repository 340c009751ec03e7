// The per-layer sparsity allocation (engine/sparsity_allocation.h) against brute
// force: every way of giving the layers multiples of the step with the required
// sum, costed by this file's own piecewise-linear interpolation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "engine/rng.h"
#include "engine/sparsity_allocation.h"

using namespace actinfer;

namespace {

// The cost at s: through (0, 0) and the measured points, each replaced by the
// largest measured at or below its level (and at least 0), linear in between.
double cost_at(const std::vector<double>& levels, const std::vector<double>& measured, double s) {
  std::vector<double> xs{0.0}, ys{0.0};
  for (size_t k = 0; k < levels.size(); ++k) {
    xs.push_back(levels[k]);
    ys.push_back(std::max(ys.back(), measured[k]));
  }
  const size_t hi = static_cast<size_t>(std::upper_bound(xs.begin(), xs.end(), s - 1e-12) - xs.begin());
  if (hi >= xs.size()) return ys.back();
  if (hi == 0) return 0;
  const double f = (s - xs[hi - 1]) / (xs[hi] - xs[hi - 1]);
  return ys[hi - 1] * (1 - f) + ys[hi] * f;
}

// The least summed cost over all tuples of steps (0..max_steps each) summing to total.
double brute_force(const std::vector<double>& levels, const std::vector<std::vector<double>>& costs, double step, int max_steps, int total) {
  const size_t L = costs.size();
  std::vector<int> u(L, 0);
  double best = std::numeric_limits<double>::infinity();
  std::function<void(size_t, int, double)> go = [&](size_t l, int left, double sum) {
    if (l == L) {
      if (left == 0) best = std::min(best, sum);
      return;
    }
    for (int k = 0; k <= std::min(max_steps, left); ++k) go(l + 1, left - k, sum + cost_at(levels, costs[l], k * step));
  };
  go(0, total, 0.0);
  return best;
}

double summed_cost(const std::vector<double>& levels, const std::vector<std::vector<double>>& costs, const std::vector<double>& s) {
  double sum = 0;
  for (size_t l = 0; l < s.size(); ++l) sum += cost_at(levels, costs[l], s[l]);
  return sum;
}

}  // namespace

TEST_CASE("sparsity allocation: optimal against brute force on small random instances, mean = target") {
  Rng rng(2024);
  int checked = 0, non_uniform = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int L = 1 + static_cast<int>(rng.below(4));
    const double step = trial % 2 ? 0.1 : 0.05;
    // 1..4 levels, increasing, on multiples of 0.05 inside (0, 0.95].
    std::vector<double> levels;
    for (int k = 1; k <= 19; ++k)
      if (rng.uniform() < 0.2) levels.push_back(k * 0.05);
    if (levels.empty()) levels.push_back(0.5);
    if (levels.size() > 4) levels.resize(4);
    // Costs: mostly increasing, convex or not, sometimes dipping (noise) or negative.
    std::vector<std::vector<double>> costs(static_cast<size_t>(L));
    for (auto& c : costs) {
      double v = 0;
      for (size_t k = 0; k < levels.size(); ++k) {
        v += rng.uniform() * (rng.uniform() < 0.5 ? 1.0 : 0.1);
        c.push_back(rng.uniform() < 0.15 ? v - 2 * rng.uniform() : v);
      }
    }
    const int max_steps = static_cast<int>(std::floor(levels.back() / step + 1e-9));
    const int total = static_cast<int>(rng.below(static_cast<uint64_t>(L * max_steps) + 1));
    const double target = total * step / L;
    CAPTURE(trial);
    CAPTURE(target);
    const std::vector<double> s = allocate_sparsity(levels, costs, target, step);
    REQUIRE(s.size() == static_cast<size_t>(L));
    double sum = 0;
    for (double v : s) {
      CHECK(v >= 0);
      CHECK(v <= levels.back() + 1e-12);
      CHECK(std::fabs(v / step - std::round(v / step)) < 1e-9);  // a multiple of the step
      sum += v;
    }
    CHECK(sum / L == doctest::Approx(target).epsilon(1e-9));
    CHECK(summed_cost(levels, costs, s) == doctest::Approx(brute_force(levels, costs, step, max_steps, total)).epsilon(1e-9));
    non_uniform += std::any_of(s.begin(), s.end(), [&](double v) { return std::fabs(v - s[0]) > 1e-9; });
    ++checked;
  }
  CHECK(checked == 300);
  CHECK(non_uniform > 100);  // the instances really differ between layers
}

TEST_CASE("sparsity allocation: hand-worked instances") {
  const std::vector<double> levels{0.4, 0.8};
  // A cheap layer takes all the sparsity: 0.8 + 0 costs 0.02, 0.4 + 0.4 costs 0.11.
  auto s = allocate_sparsity(levels, {{0.01, 0.02}, {0.1, 1.0}}, 0.4, 0.1);
  CHECK(s[0] == doctest::Approx(0.8));
  CHECK(s[1] == doctest::Approx(0.0));
  // Two equal convex layers: sharing equally is cheapest.
  s = allocate_sparsity(levels, {{0.1, 1.0}, {0.1, 1.0}}, 0.4, 0.1);
  CHECK(s[0] == doctest::Approx(0.4));
  CHECK(s[1] == doctest::Approx(0.4));
  // A falling measurement is noise: layer 0's 0.1 at 0.8 (after 0.3 at 0.4) counts as 0.3, so
  // layer 1 takes it all (0.25) rather than layer 0 on its lucky dip (0.1 taken at face value).
  s = allocate_sparsity(levels, {{0.3, 0.1}, {0.1, 0.25}}, 0.4, 0.1);
  CHECK(s[0] == doctest::Approx(0.0));
  CHECK(s[1] == doctest::Approx(0.8));
  CHECK(monotone_costs(std::vector<double>{-0.5, 0.3, 0.2, 0.6}) == std::vector<double>{0.0, 0.3, 0.3, 0.6});
  CHECK(interpolate_cost(levels, std::vector<double>{0.2, 0.6}, 0.2) == doctest::Approx(0.1));
  CHECK(interpolate_cost(levels, std::vector<double>{0.2, 0.6}, 0.6) == doctest::Approx(0.4));
  // Target 0: nothing dropped anywhere.
  s = allocate_sparsity(levels, {{0.1, 1.0}, {0.1, 1.0}}, 0.0, 0.1);
  CHECK(s == std::vector<double>{0.0, 0.0});
}

TEST_CASE("sparsity allocation: bad input is refused with the reason") {
  const std::vector<double> levels{0.4, 0.8};
  CHECK_THROWS_WITH_AS(allocate_sparsity(levels, {}, 0.5), doctest::Contains("no layers"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(allocate_sparsity(std::vector<double>{0.5, 0.4}, {{1, 2}}, 0.4), doctest::Contains("increase strictly"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(allocate_sparsity(levels, {{1.0}}, 0.4), doctest::Contains("layer 0 has 1 costs for 2 levels"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(allocate_sparsity(levels, {{1.0, NAN}}, 0.4), doctest::Contains("not finite"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(allocate_sparsity(levels, {{1, 2}}, 0.9), doctest::Contains("target 0.900000 outside [0, 0.800000]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(allocate_sparsity(levels, {{1, 2}}, 0.4, 0.0), doctest::Contains("step must be in (0, 0.5]"), std::invalid_argument);
}
