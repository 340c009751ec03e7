// Topology discovery, synthetic and XML topologies, config specs and descriptions.
#include <doctest/doctest.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "topology/topology.h"

using namespace actinfer::topology;

namespace {

std::vector<int> range(int begin, int end) {
  std::vector<int> v(static_cast<size_t>(end - begin));
  std::iota(v.begin(), v.end(), begin);
  return v;
}

std::filesystem::path scratch_dir() {
#ifdef ACTINFER_TEST_DATA_DIR
  std::filesystem::path dir = ACTINFER_TEST_DATA_DIR;
#else
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "actinfer_test";
#endif
  std::filesystem::create_directories(dir);
  return dir;
}

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string thrown_message(auto&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("no std::invalid_argument thrown");
  return "";
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Everything but the source: two topologies with the same shape compare equal.
void check_same_shape(const Topology& a, const Topology& b) {
  CHECK(a.n_packages() == b.n_packages());
  CHECK(a.n_cores() == b.n_cores());
  REQUIRE(a.numa_nodes().size() == b.numa_nodes().size());
  for (size_t i = 0; i < a.numa_nodes().size(); ++i) {
    const NumaNode &x = a.numa_nodes()[i], &y = b.numa_nodes()[i];
    CHECK(x.index == y.index);
    CHECK(x.os_index == y.os_index);
    CHECK(x.package == y.package);
    CHECK(x.pus == y.pus);
    CHECK(x.memory_bytes == y.memory_bytes);
  }
  REQUIRE(a.pus().size() == b.pus().size());
  for (size_t i = 0; i < a.pus().size(); ++i) {
    CHECK(a.pus()[i].os_index == b.pus()[i].os_index);
    CHECK(a.pus()[i].core == b.pus()[i].core);
    CHECK(a.pus()[i].numa_node == b.pus()[i].numa_node);
    CHECK(a.pus()[i].package == b.pus()[i].package);
  }
  auto la = lines(a.describe()), lb = lines(b.describe());
  REQUIRE(la.size() == lb.size());
  for (size_t i = 1; i < la.size(); ++i) CHECK(la[i] == lb[i]);  // line 0 names the source
}

}  // namespace

TEST_CASE("topology: synthetic two packages, one NUMA node each, four cores") {
  Topology t = Topology::synthetic("pack:2 numa:1 core:4 pu:1");
  CHECK(t.is_synthetic());
  CHECK(t.n_packages() == 2);
  CHECK(t.n_cores() == 8);
  REQUIRE(t.numa_nodes().size() == 2);
  for (int n = 0; n < 2; ++n) {
    const NumaNode& node = t.numa_nodes()[static_cast<size_t>(n)];
    CHECK(node.index == n);
    CHECK(node.os_index == n);
    CHECK(node.package == n);
    CHECK(node.pus == range(4 * n, 4 * n + 4));
    CHECK(node.memory_bytes > 0);
  }
  REQUIRE(t.pus().size() == 8);
  for (const ProcessingUnit& p : t.pus()) {
    CHECK(p.core == p.os_index);
    CHECK(p.numa_node == p.os_index / 4);
    CHECK(p.package == p.os_index / 4);
  }
  CHECK(t.find_pu(7) != nullptr);
  CHECK(t.find_pu(8) == nullptr);
  CHECK(t.find_pu(-1) == nullptr);
  CHECK(t.find_node(1) == &t.numa_nodes()[1]);
  CHECK(t.find_node(2) == nullptr);
  CHECK(pus_of_node(t, 1) == range(4, 8));
  CHECK(pus_of_node(t, 2).empty());
  CHECK(pus_of_node(t, -1).empty());

  auto d = lines(t.describe());
  REQUIRE(d.size() == 3);
  CHECK(d[0].find("synthetic topology \"pack:2 numa:1 core:4 pu:1\"") != std::string::npos);
  CHECK(d[0].find("2 packages, 2 NUMA nodes, 8 cores, 8 PUs") != std::string::npos);
  CHECK(d[1].find("package 0, NUMA node 0 (os 0, ") != std::string::npos);
  CHECK(d[1].find("PUs 0-3") != std::string::npos);
  CHECK(d[2].find("package 1, NUMA node 1 (os 1, ") != std::string::npos);
  CHECK(d[2].find("PUs 4-7") != std::string::npos);
}

TEST_CASE("topology: synthetic with memory sizes, L3 and two PUs per core") {
  Topology t = Topology::synthetic("pack:2 [numa(memory=8GB)] l3:1 core:4 pu:2");
  CHECK(t.n_packages() == 2);
  CHECK(t.n_cores() == 8);
  REQUIRE(t.numa_nodes().size() == 2);
  CHECK(t.numa_nodes()[0].pus == range(0, 8));
  CHECK(t.numa_nodes()[1].pus == range(8, 16));
  CHECK(t.numa_nodes()[0].package == 0);
  CHECK(t.numa_nodes()[1].package == 1);
  CHECK(t.numa_nodes()[0].memory_bytes == 8'000'000'000ull);  // hwloc reads "GB" as 10^9
  REQUIRE(t.pus().size() == 16);
  for (const ProcessingUnit& p : t.pus()) {
    CHECK(p.core == p.os_index / 2);
    CHECK(p.numa_node == p.os_index / 8);
    CHECK(p.package == p.os_index / 8);
  }
  // Placement order fills the node's four cores before using their second PUs.
  CHECK(pus_of_node(t, 0) == std::vector<int>{0, 2, 4, 6, 1, 3, 5, 7});
  CHECK(pus_of_node(t, 1) == std::vector<int>{8, 10, 12, 14, 9, 11, 13, 15});
  CHECK(t.describe().find("7.5 GiB") != std::string::npos);
}

TEST_CASE("topology: one NUMA node above two packages") {
  Topology t = Topology::synthetic("numa:1 pack:2 core:2 pu:1");
  CHECK(t.n_packages() == 2);
  REQUIRE(t.numa_nodes().size() == 1);
  CHECK(t.numa_nodes()[0].package == -1);  // it spans both
  CHECK(t.numa_nodes()[0].pus == range(0, 4));
  CHECK(t.pus()[3].package == 1);
  CHECK(t.pus()[3].numa_node == 0);
  CHECK(t.describe().find("packages 0-1, NUMA node 0") != std::string::npos);
}

TEST_CASE("topology: a bad synthetic string gives hwloc's reason and the string") {
  std::string m = thrown_message([] { Topology::synthetic("pack:2 foo:3"); });
  CHECK(m.find("\"pack:2 foo:3\"") != std::string::npos);
  CHECK(m.find("unknown object type at 'foo:3'") != std::string::npos);  // hwloc's own words
  for (const char* bad : {"pack:0 core:2", "garbage", "", "pack:2 core:x"}) {
    CAPTURE(bad);
    m = thrown_message([&] { Topology::synthetic(bad); });
    CHECK(m.find(std::string("\"") + bad + "\" rejected by hwloc: ") != std::string::npos);
  }
}

TEST_CASE("topology: specs from configs") {
  for (const char* real : {"", "real", "  real "}) {
    CAPTURE(real);
    CHECK_FALSE(Topology::from_spec(real).is_synthetic());
  }
  Topology s = Topology::from_spec(" synthetic:pack:2 numa:1 core:4 pu:1 ");
  CHECK(s.is_synthetic());
  CHECK(s.numa_nodes().size() == 2);
  check_same_shape(s, Topology::synthetic("pack:2 numa:1 core:4 pu:1"));

  auto path = write_file("topology_spec.xml", s.export_xml());
  Topology x = Topology::from_spec("xml:" + path.string());
  CHECK(x.is_synthetic());
  check_same_shape(s, x);

  CHECK(thrown_message([] { Topology::from_spec("numa"); }).find("\"numa\" is not \"real\"") != std::string::npos);
  CHECK(thrown_message([] { Topology::from_spec("xml:"); }).find("no path") != std::string::npos);
  CHECK(thrown_message([] { Topology::from_spec("synthetic:pack:-1"); }).find("rejected by hwloc") != std::string::npos);
}

TEST_CASE("topology: XML export round trip") {
  for (const char* desc : {"pack:2 numa:1 core:4 pu:1", "pack:2 [numa(memory=8GB)] l3:1 core:4 pu:2"}) {
    CAPTURE(desc);
    Topology t = Topology::synthetic(desc);
    std::string xml = t.export_xml();
    CHECK(xml.find("<topology") != std::string::npos);
    Topology back = Topology::from_xml(write_file("topology_roundtrip.xml", xml));
    CHECK(back.is_synthetic());
    CHECK(back.source().find("XML topology '") == 0);
    check_same_shape(t, back);
  }
  // The real machine, exported and read back, keeps its shape but can only plan.
  Topology real = Topology::discover();
  Topology back = Topology::from_xml(write_file("topology_real.xml", real.export_xml()));
  CHECK(back.is_synthetic());
  check_same_shape(real, back);
}

TEST_CASE("topology: a missing or bad XML file gives a clear error") {
  std::string m = thrown_message([] { Topology::from_xml("/nonexistent/topo.xml"); });
  CHECK(m == "topology XML file '/nonexistent/topo.xml' not found");
  m = thrown_message([] { Topology::from_xml(scratch_dir()); });
  CHECK(m.find("is a directory") != std::string::npos);

  const std::string bad = "' is not a readable hwloc XML export: ";
  auto garbage = write_file("topology_garbage.xml", "hello\n");
  m = thrown_message([&] { Topology::from_xml(garbage); });
  CHECK(m == "topology XML file '" + garbage.string() + bad + "it is not XML (it begins \"hello?\")");
  auto wrong = write_file("topology_wrong.xml", "<?xml version=\"1.0\"?>\n<topology><object type=\"Foo\"/></topology>\n");
  m = thrown_message([&] { Topology::from_xml(wrong); });
  CHECK(m == "topology XML file '" + wrong.string() + bad +
                 "hwloc rejected its contents (Invalid argument); run with HWLOC_XML_VERBOSE=1 to see hwloc's reason");
  auto other = write_file("topology_other.xml", "<?xml version=\"1.0\"?>\n<config/>\n");
  m = thrown_message([&] { Topology::from_xml(other); });
  CHECK(m.find("no <topology> element") != std::string::npos);
  auto empty = write_file("topology_empty.xml", "");
  m = thrown_message([&] { Topology::from_xml(empty); });
  CHECK(m == "topology XML file '" + empty.string() + bad + "the file is empty");
  // A truncated export of a real topology.
  std::string xml = Topology::synthetic("pack:2 numa:1 core:4 pu:1").export_xml();
  auto cut = write_file("topology_cut.xml", xml.substr(0, xml.size() / 2));
  m = thrown_message([&] { Topology::from_xml(cut); });
  CHECK(m.find("hwloc rejected its contents") != std::string::npos);
}

TEST_CASE("topology: discover() sees this machine's nodes and every usable CPU") {
  Topology t = Topology::discover();
  CHECK_FALSE(t.is_synthetic());
  CHECK(t.source() == "this machine");
  REQUIRE(t.numa_nodes().size() >= 1);
  CHECK(t.n_packages() >= 1);

  cpu_set_t mask;
  REQUIRE(sched_getaffinity(0, sizeof mask, &mask) == 0);
  std::set<int> allowed;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &mask)) allowed.insert(c);
  std::set<int> seen;
  for (const ProcessingUnit& p : t.pus()) {
    seen.insert(p.os_index);
    CHECK(p.numa_node >= 0);
    CHECK(p.core >= 0);
  }
  // Every CPU this thread may run on is there (the topology may hold more when the tests
  // run under taskset), and nothing beyond the online CPUs.
  CHECK(std::includes(seen.begin(), seen.end(), allowed.begin(), allowed.end()));
  CHECK(seen.size() <= static_cast<size_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  std::set<int> in_nodes;
  for (const NumaNode& n : t.numa_nodes()) in_nodes.insert(n.pus.begin(), n.pus.end());
  CHECK(in_nodes == seen);  // each PU lies in a NUMA node
  CHECK(lines(t.describe()).size() == 1 + t.numa_nodes().size());
  MESSAGE(t.describe());
}
