#include "topology/topology.h"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "topology/hwloc_util.h"

namespace actinfer::topology {

namespace {

using detail::list_string;

// An hwloc topology that has been initialised but maybe not loaded yet: destroyed on
// every error path until it is handed to a Topology.
std::unique_ptr<hwloc_topology, void (*)(hwloc_topology*)> init_topology() {
  hwloc_topology_t t = nullptr;
  if (hwloc_topology_init(&t) != 0)
    throw std::runtime_error(std::string("hwloc_topology_init failed: ") + std::strerror(errno));
  return {t, [](hwloc_topology* p) { hwloc_topology_destroy(p); }};
}

int logical_ancestor(hwloc_topology_t t, hwloc_obj_t obj, hwloc_obj_type_t type) {
  hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(t, type, obj);
  return a ? static_cast<int>(a->logical_index) : -1;
}

// A NUMA node is a memory child of the object it is attached to (usually a package);
// when it is attached higher up (one node for the whole machine), its package is the
// single package its cpuset lies in, if there is one.
int package_of_node(hwloc_topology_t t, hwloc_obj_t node) {
  int p = logical_ancestor(t, node, HWLOC_OBJ_PACKAGE);
  if (p >= 0 || hwloc_bitmap_iszero(node->cpuset)) return p;
  hwloc_obj_t pkg = hwloc_get_obj_covering_cpuset(t, node->cpuset);
  while (pkg && pkg->type != HWLOC_OBJ_PACKAGE) pkg = pkg->parent;
  return pkg ? static_cast<int>(pkg->logical_index) : -1;
}

std::string memory_string(uint64_t bytes) {
  char buf[32];
  if (bytes >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  else std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string plural(int n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string trim_line(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// Why hwloc refused an XML file, as far as can be told from outside: hwloc only says
// EINVAL, and its own details (HWLOC_XML_VERBOSE) are read once per process, so the
// common cases are recognised here and the rest points at the variable.
std::string xml_problem(const std::filesystem::path& path, int hwloc_errno) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string("cannot open it (") + std::strerror(errno) + ")";
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.empty()) return "the file is empty";
  size_t start = head.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  if (start == std::string::npos) return "the file holds only whitespace";
  if (head[start] != '<') {
    std::string opening = head.substr(start, 20);
    for (char& c : opening)
      if (c < 32 || c > 126) c = '?';
    return "it is not XML (it begins \"" + opening + "\")";
  }
  if (head.find("<topology") == std::string::npos)
    return "it has no <topology> element near its start: not an hwloc export";
  return std::string("hwloc rejected its contents (") + std::strerror(hwloc_errno) +
         "); run with HWLOC_XML_VERBOSE=1 to see hwloc's reason";
}

}  // namespace

Topology::Topology(std::shared_ptr<hwloc_topology> loaded, std::string source)
    : topo_(std::move(loaded)), source_(std::move(source)) {
  hwloc_topology_t t = topo_.get();
  // hwloc marks synthetic and XML topologies as "not this system"; binding calls on them
  // return success and do nothing, so the rest of the module checks this flag first.
  synthetic_ = !hwloc_topology_is_thissystem(t);
  n_packages_ = std::max(0, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE));
  n_cores_ = std::max(0, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE));

  const int n_nodes = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < n_nodes; ++i) {
    hwloc_obj_t node = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    NumaNode n{i, static_cast<int>(node->os_index), package_of_node(t, node), {}, node->attr->numanode.local_memory};
    // NUMA nodes have no PU children (they are memory children): walk the PUs in their cpuset.
    for (hwloc_obj_t pu = nullptr; (pu = hwloc_get_next_obj_inside_cpuset_by_type(t, node->cpuset, HWLOC_OBJ_PU, pu));)
      n.pus.push_back(static_cast<int>(pu->os_index));
    std::sort(n.pus.begin(), n.pus.end());
    nodes_.push_back(std::move(n));
  }

  const int n_pus = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
  for (int i = 0; i < n_pus; ++i) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(t, HWLOC_OBJ_PU, static_cast<unsigned>(i));
    ProcessingUnit p{static_cast<int>(pu->os_index), logical_ancestor(t, pu, HWLOC_OBJ_CORE), -1,
                     logical_ancestor(t, pu, HWLOC_OBJ_PACKAGE)};
    // First node (logical order) whose cpuset holds the PU: normally its DRAM node; further
    // nodes with the same cpuset are extra memory (HBM, CXL), not the team's home.
    for (const NumaNode& n : nodes_)
      if (std::binary_search(n.pus.begin(), n.pus.end(), p.os_index)) {
        p.numa_node = n.index;
        break;
      }
    pus_.push_back(p);
  }
}

Topology Topology::discover() {
  auto t = init_topology();
  if (hwloc_topology_load(t.get()) != 0)
    throw std::runtime_error(std::string("hwloc could not read this machine's topology: ") + std::strerror(errno));
  // HWLOC_XMLFILE or HWLOC_SYNTHETIC in the environment make hwloc load those instead.
  const bool real = hwloc_topology_is_thissystem(t.get());
  return Topology(std::shared_ptr<hwloc_topology>(t.release(), t.get_deleter()),
                  real ? "this machine" : "the topology named by HWLOC_XMLFILE/HWLOC_SYNTHETIC");
}

Topology Topology::synthetic(const std::string& description) {
  auto t = init_topology();
  auto attempt = [&](hwloc_topology_t h) {
    return hwloc_topology_set_synthetic(h, description.c_str()) == 0 && hwloc_topology_load(h) == 0 ? 0 : -1;
  };
  if (attempt(t.get()) != 0) {
    std::string why = std::strerror(errno);
    std::string complaint = detail::hwloc_complaint("HWLOC_SYNTHETIC_VERBOSE", attempt);
    throw std::invalid_argument("synthetic topology \"" + description + "\" rejected by hwloc: " +
                                (complaint.empty() ? why : complaint) +
                                " (expected e.g. \"pack:2 numa:1 core:4 pu:1\")");
  }
  return Topology(std::shared_ptr<hwloc_topology>(t.release(), t.get_deleter()),
                  "synthetic topology \"" + description + "\"");
}

Topology Topology::from_xml(const std::filesystem::path& path) {
  const std::string where = "topology XML file '" + path.string() + "'";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::invalid_argument(where + " not found");
  if (std::filesystem::is_directory(path, ec)) throw std::invalid_argument(where + " is a directory");
  auto t = init_topology();
  const std::string p = path.string();
  if (hwloc_topology_set_xml(t.get(), p.c_str()) != 0 || hwloc_topology_load(t.get()) != 0)
    throw std::invalid_argument(where + " is not a readable hwloc XML export: " + xml_problem(path, errno));
  return Topology(std::shared_ptr<hwloc_topology>(t.release(), t.get_deleter()), "XML topology '" + p + "'");
}

Topology Topology::from_spec(const std::string& spec) {
  const std::string s = trim_line(spec);
  if (s.empty() || s == "real") return discover();
  if (s.rfind("synthetic:", 0) == 0) return synthetic(trim_line(s.substr(10)));
  if (s.rfind("xml:", 0) == 0) {
    std::string path = trim_line(s.substr(4));
    if (path.empty()) throw std::invalid_argument("topology spec \"" + spec + "\": no path after \"xml:\"");
    return from_xml(path);
  }
  throw std::invalid_argument("topology spec \"" + spec +
                              "\" is not \"real\" (or empty), \"synthetic:<hwloc description>\" or \"xml:<path>\"");
}

const ProcessingUnit* Topology::find_pu(int os_index) const {
  for (const ProcessingUnit& p : pus_)
    if (p.os_index == os_index) return &p;
  return nullptr;
}

const NumaNode* Topology::find_node(int index) const {
  return index >= 0 && index < static_cast<int>(nodes_.size()) ? &nodes_[static_cast<size_t>(index)] : nullptr;
}

std::string Topology::describe() const {
  std::ostringstream out;
  out << source_ << ": " << plural(n_packages_, "package") << ", " << plural(static_cast<int>(nodes_.size()), "NUMA node")
      << ", " << plural(n_cores_, "core") << ", " << plural(static_cast<int>(pus_.size()), "PU")
      << (synthetic_ ? " (planning only: no pinning or memory binding)" : "") << "\n";
  for (const NumaNode& n : nodes_) {
    out << "  ";
    if (n.package >= 0) out << "package " << n.package << ", ";
    else {
      // Name the packages the node spans, if any (e.g. one node for a whole 2-socket machine).
      std::vector<int> pkgs;
      for (const ProcessingUnit& p : pus_)
        if (p.numa_node == n.index && p.package >= 0) pkgs.push_back(p.package);
      if (!pkgs.empty()) out << "packages " << list_string(pkgs) << ", ";
    }
    out << "NUMA node " << n.index << " (os " << n.os_index << ", " << memory_string(n.memory_bytes)
        << "): PUs " << (n.pus.empty() ? "none (memory only)" : list_string(n.pus)) << "\n";
  }
  return out.str();
}

std::string Topology::export_xml() const {
  char* buf = nullptr;
  int len = 0;
  if (hwloc_topology_export_xmlbuffer(topo_.get(), &buf, &len, 0) != 0 || !buf)
    throw std::runtime_error(std::string("hwloc could not export the topology as XML: ") + std::strerror(errno));
  // len counts the terminating NUL.
  std::string xml(buf, len > 0 ? static_cast<size_t>(len - 1) : 0);
  hwloc_free_xmlbuffer(topo_.get(), buf);
  return xml;
}

std::vector<int> pus_of_node(const Topology& topo, int numa_node) {
  const NumaNode* node = topo.find_node(numa_node);
  if (!node) return {};
  // Group the node's PUs by core in topology order; a PU without a core is its own core.
  std::vector<std::vector<int>> cores;
  std::map<int, size_t> core_slot;
  for (const ProcessingUnit& p : topo.pus()) {
    if (!std::binary_search(node->pus.begin(), node->pus.end(), p.os_index)) continue;
    if (p.core < 0) {
      cores.push_back({p.os_index});
      continue;
    }
    auto [it, fresh] = core_slot.try_emplace(p.core, cores.size());
    if (fresh) cores.emplace_back();
    cores[it->second].push_back(p.os_index);
  }
  std::vector<int> order;
  for (size_t rank = 0;; ++rank) {
    size_t before = order.size();
    for (const auto& c : cores)
      if (rank < c.size()) order.push_back(c[rank]);
    if (order.size() == before) break;
  }
  return order;
}

}  // namespace actinfer::topology
