// What the planner knows about a machine: the CPU (cores, NUMA, caches, ISA, AMX, memory, measured or
// nominal limits) and each GPU (memory, bandwidth, compute, link to the host). detect_hardware() reads
// this machine (hwloc, cpu/, the CUDA driver when present); every field can be overridden from JSON so
// one can plan for a machine one does not have.
//
// Units: bytes, bytes per second, operations (FLOP) per second. 0 means "unknown" where noted.
//
//   hardware_desc hw = detect_hardware();                 // this machine; measured limits left 0
//   apply_overrides(hw, json::parse(R"({"gpus": [{"memory_bytes": "24GiB"}]})"));
//   hardware_desc seed = hardware_from_json_file("examples/hardware/seed-spr-rtx5090.json");
//   std::uint64_t b = parse_size("32GiB");                // 34359738368
//
// What detect_hardware() fills (and what it leaves to calibration, which measures):
//   cpu: name (/proc/cpuinfo "model name", else CPUID brand), cores / threads / numa_nodes / l2_bytes /
//        llc_bytes (hwloc when built with it, AMXMM_HAVE_HWLOC, else sysconf), memory_bytes (sysconf
//        physical pages), isa (the back end amxmm will run: default_isa(), honouring AMXMM_ISA), amx
//        (AMX present, enabled by the OS and permitted). dram_read_bytes_per_s, matmul_flops and
//        vector_flops stay 0.
//   gpus: through the CUDA driver API, loaded at run time with dlopen("libcuda.so.1") -- no CUDA needed
//        to build, and no GPU (or no driver) simply means an empty list. name, memory_bytes
//        (cuDeviceTotalMem), sm_count, compute_capability, memory_bytes_per_s = the nominal bandwidth
//        2 x memory clock x bus width / 8, link_nominal_bytes_per_s from the PCIe link's maximum speed
//        and width in sysfs. matmul_flops and host_to_device_bytes_per_s stay 0.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <locale>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#if defined(AMXMM_HAVE_HWLOC) && AMXMM_HAVE_HWLOC && __has_include(<hwloc.h>)
#include <hwloc.h>
#define AMXMM_PLAN_USE_HWLOC 1
#else
#define AMXMM_PLAN_USE_HWLOC 0
#endif

#include "../core/error.hpp"
#include "../core/version.hpp"
#include "../cpu/cache.hpp"
#include "../cpu/features.hpp"
#include "../cpu/isa.hpp"
#include "json.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

struct cpu_desc {
    std::string name;                    ///< model name, e.g. "Intel Xeon Platinum 8480+"
    int cores = 0;                       ///< physical cores the engine will use
    int threads = 0;                     ///< hardware threads
    int numa_nodes = 1;
    std::uint64_t memory_bytes = 0;      ///< host memory available for weights (total RAM)
    std::uint64_t l2_bytes = 0;          ///< per core
    std::uint64_t llc_bytes = 0;         ///< last-level cache, total
    std::string isa;                     ///< best amxmm back end: amx, avx512_vnni, avx2, scalar
    bool amx = false;                    ///< AMX usable (present and permitted)
    double dram_read_bytes_per_s = 0;    ///< all cores streaming reads
    double matmul_flops = 0;             ///< sustained Q4_0 matmul throughput for large M (FLOP/s), all cores
    double vector_flops = 0;             ///< fp32 vector throughput for non-matmul work (attention etc.)
};

struct gpu_desc {
    std::string name;                    ///< e.g. "NVIDIA GeForce RTX 5090"
    /// Total device memory. 0 means unknown: cost_model scores never find it exceeded, and solve()
    /// refuses to plan for a machine with such a GPU (it cannot place weights on it).
    std::uint64_t memory_bytes = 0;
    double memory_bytes_per_s = 0;       ///< HBM/GDDR bandwidth
    int sm_count = 0;
    double matmul_flops = 0;             ///< sustained Q4_0 matmul throughput for large M (FLOP/s)
    double host_to_device_bytes_per_s = 0;  ///< pinned host → device copy bandwidth (PCIe / NVLink-C2C)

    // ---- added after the first commit of this header --------------------------------------------------
    int compute_capability = 0;          ///< major * 10 + minor (90 = H100, 120 = RTX 5090); 0 unknown
    /// Nominal host link bandwidth, one direction (PCIe generation x width, after encoding); 0 unknown.
    /// A ceiling for host_to_device_bytes_per_s, which calibration measures.
    double link_nominal_bytes_per_s = 0;
};

struct hardware_desc {
    cpu_desc cpu;
    std::vector<gpu_desc> gpus;          ///< in CUDA device order
    std::uint64_t gpu_reserve_bytes = 512ull << 20;  ///< kept free on each GPU (context, cuBLAS, fragmentation)
    std::uint64_t cpu_reserve_bytes = 2ull << 30;    ///< kept free in host memory

    // ---- added after the first commit of this header --------------------------------------------------
    /// Where the numbers come from (sources, assumptions); free text, carried through JSON.
    std::string notes;
};

// ================================================================================================
// Sizes and rates from text.
// ================================================================================================

}  // namespace plan
namespace detail {

/// Parses a leading decimal number (digits, optional fraction and exponent) of `s` locale-independently;
/// returns the characters used (0: none).
inline std::size_t plan_leading_number(std::string_view s, double& out) {
    std::size_t i = 0;
    auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
    const std::size_t start = i;
    while (digit(i)) ++i;
    if (i < s.size() && s[i] == '.') {
        ++i;
        while (digit(i)) ++i;
    }
    if (i == start || (i == start + 1 && s[start] == '.')) return 0;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E') && (digit(i + 1) || ((i + 1 < s.size()) && (s[i + 1] == '+' || s[i + 1] == '-') && digit(i + 2)))) {
        i += 2;
        while (digit(i)) ++i;
    }
    std::istringstream is{std::string(s.substr(0, i))};
    is.imbue(std::locale::classic());
    is >> out;
    return is.fail() ? 0 : i;
}

inline std::string plan_lower_trim(std::string_view s) {
    std::string out;
    for (char c : s)
        if (!std::isspace(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// Multiplier of a size unit: "" / "b" 1; "k" "m" "g" "t" "p" and "kib" .. "pib" binary (2^10 ...);
/// "kb" .. "pb" decimal (10^3 ...). 0 when not a unit.
inline double plan_size_unit(const std::string& u) {
    static const char prefixes[] = "kmgtp";
    if (u.empty() || u == "b") return 1;
    const char* p = std::strchr(prefixes, u[0]);
    if (!p || u[0] == '\0') return 0;
    const int power = static_cast<int>(p - prefixes) + 1;
    const std::string rest = u.substr(1);
    if (rest.empty() || rest == "ib" || rest == "i") return std::pow(1024.0, power);
    if (rest == "b") return std::pow(1000.0, power);
    return 0;
}

}  // namespace detail
namespace plan {

/// Bytes from text: a number with an optional unit, spaces allowed, case-insensitive:
/// "34359738368", "32GiB", "32 GiB", "32G" (single letters are binary, like "free -g"), "24 GB" and
/// "24GB" (decimal: 24e9), "512MiB", "1.5 TiB", "100 B". The result is rounded to whole bytes.
/// Throws invalid_argument naming the text when it is not a size (negative, unknown unit, too large).
inline std::uint64_t parse_size(std::string_view text) {
    const char* fn = "parse_size";
    const std::string t = detail::plan_lower_trim(text);
    double v = 0;
    const std::size_t used = detail::plan_leading_number(t, v);
    detail::require(used > 0, errc::invalid_argument, fn, "\"", text, "\" is not a size (expected e.g. 32GiB, 24 GB, 512MiB)");
    const double unit = detail::plan_size_unit(t.substr(used));
    detail::require(unit > 0, errc::invalid_argument, fn, "\"", text, "\": unknown unit \"", t.substr(used),
                    "\" (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, K, M, G, T)");
    const double bytes = std::round(v * unit);
    detail::require(std::isfinite(bytes) && bytes < 18446744073709551616.0, errc::invalid_argument, fn, "\"", text,
                    "\" is too large");
    return static_cast<std::uint64_t>(bytes);
}

/// A rate from text: bytes per second ("1.79 TB/s", "55GB/s", "900 GiB/s"; decimal prefixes for
/// KB..PB, binary for KiB..PiB) or operations per second ("210 TFLOP/s", "19.8 TFLOPS", "40 TOP/s",
/// "5e12 FLOP/s"; prefixes K, M, G, T, P decimal). A plain number ("5e12") is taken as is.
/// Throws invalid_argument naming the text otherwise.
inline double parse_rate(std::string_view text) {
    const char* fn = "parse_rate";
    std::string t = detail::plan_lower_trim(text);
    double v = 0;
    const std::size_t used = detail::plan_leading_number(t, v);
    detail::require(used > 0, errc::invalid_argument, fn, "\"", text,
                    "\" is not a rate (expected e.g. 1.79 TB/s, 55 GB/s, 210 TFLOP/s)");
    std::string u = t.substr(used);
    if (u.empty()) return v;
    auto ends_with = [&](std::string_view suffix) {
        return u.size() >= suffix.size() && u.compare(u.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("/s"))
        u.resize(u.size() - 2);
    else if (ends_with("ps") && !ends_with("flops") && !ends_with("ops"))  // "GBps"
        u.resize(u.size() - 2);
    // Operations: [kmgtp](flop|flops|op|ops)
    for (std::string_view op : {"flops", "flop", "ops", "op"}) {
        if (!ends_with(op)) continue;
        const std::string prefix = u.substr(0, u.size() - op.size());
        double mult = 0;
        if (prefix.empty()) mult = 1;
        else if (prefix.size() == 1 && std::strchr("kmgtp", prefix[0]))
            mult = std::pow(1000.0, static_cast<int>(std::strchr("kmgtp", prefix[0]) - "kmgtp") + 1);
        detail::require(mult > 0, errc::invalid_argument, fn, "\"", text, "\": unknown prefix \"", prefix, "\"");
        return v * mult;
    }
    double unit = detail::plan_size_unit(u);
    // For rates a bare prefix letter without "b" is ambiguous; only byte units are accepted.
    detail::require(unit > 0 && (u.empty() || u.back() == 'b'), errc::invalid_argument, fn, "\"", text,
                    "\": unknown unit (use B/s, KB/s .. TB/s, KiB/s .. TiB/s, or FLOP/s, TFLOP/s, TOP/s)");
    return v * unit;
}

/// "32 GiB", "24.0 GB", "1.79 TB/s": a short human form of a size (binary units) for messages.
inline std::string format_size(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        ++u;
    }
    char buf[48];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
    return buf;
}

// ================================================================================================
// Detection.
// ================================================================================================

}  // namespace plan
namespace detail {

inline std::string plan_read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (in) std::getline(in, line);
    return line;
}

/// "model name" of /proc/cpuinfo, or empty.
inline std::string plan_cpuinfo_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, 10, "model name") != 0) continue;
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::size_t b = colon + 1;
        while (b < line.size() && line[b] == ' ') ++b;
        return line.substr(b);
    }
    return {};
}

inline void plan_detect_topology(plan::cpu_desc& cpu) {
    const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    cpu.threads = online > 0 ? static_cast<int>(online) : 1;
    cpu.cores = cpu.threads;
    cpu.numa_nodes = 1;
    const cache_sizes& cs = detected_cache_sizes();
    cpu.l2_bytes = static_cast<std::uint64_t>(cs.l2);
    cpu.llc_bytes = static_cast<std::uint64_t>(cs.l3);
#if AMXMM_PLAN_USE_HWLOC
    hwloc_topology_t topo = nullptr;
    if (hwloc_topology_init(&topo) != 0) return;
    if (hwloc_topology_load(topo) == 0) {
        const int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
        const int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        const int numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
        if (pus > 0) cpu.threads = pus;
        if (cores > 0) cpu.cores = cores;
        if (numa > 0) cpu.numa_nodes = numa;
#if HWLOC_API_VERSION >= 0x00020000
        if (hwloc_obj_t l2 = hwloc_get_obj_by_type(topo, HWLOC_OBJ_L2CACHE, 0); l2 && l2->attr)
            cpu.l2_bytes = l2->attr->cache.size;
        std::uint64_t llc = 0;
        for (hwloc_obj_type_t t : {HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L4CACHE}) {
            std::uint64_t total = 0;
            const int n = hwloc_get_nbobjs_by_type(topo, t);
            for (int i = 0; i < n; ++i)
                if (hwloc_obj_t o = hwloc_get_obj_by_type(topo, t, static_cast<unsigned>(i)); o && o->attr)
                    total += o->attr->cache.size;
            if (total > 0 && t == HWLOC_OBJ_L3CACHE) llc = total;  // L4 (eDRAM, MCDRAM) is not an LLC here
        }
        if (llc > 0) cpu.llc_bytes = llc;
#endif
    }
    hwloc_topology_destroy(topo);
#endif
}

// The CUDA driver API, declared here with plain types (CUresult = int, CUdevice = int) so that no CUDA
// header is needed; the library is opened at run time.
struct plan_cuda_driver {
    using init_fn = int (*)(unsigned);
    using count_fn = int (*)(int*);
    using get_fn = int (*)(int*, int);
    using name_fn = int (*)(char*, int, int);
    using mem_fn = int (*)(std::size_t*, int);
    using attr_fn = int (*)(int*, int, int);
    // CUdevice_attribute values from cuda.h (stable since CUDA 4-6).
    static constexpr int attr_multiprocessor_count = 16;
    static constexpr int attr_pci_bus_id = 33;
    static constexpr int attr_pci_device_id = 34;
    static constexpr int attr_memory_clock_rate = 36;        // kHz
    static constexpr int attr_global_memory_bus_width = 37;  // bits
    static constexpr int attr_pci_domain_id = 50;
    static constexpr int attr_compute_capability_major = 75;
    static constexpr int attr_compute_capability_minor = 76;
};

/// Nominal bytes/s of a PCIe link from sysfs max_link_speed ("32.0 GT/s PCIe") and max_link_width.
inline double plan_pcie_nominal(int domain, int bus, int device) {
    char dir[96];
    std::snprintf(dir, sizeof dir, "/sys/bus/pci/devices/%04x:%02x:%02x.0/", domain, bus, device);
    const std::string speed = plan_read_first_line(std::string(dir) + "max_link_speed");
    const std::string width = plan_read_first_line(std::string(dir) + "max_link_width");
    double gts = 0;
    if (speed.empty() || width.empty() || plan_leading_number(speed, gts) == 0) return 0;
    const int lanes = std::atoi(width.c_str());
    if (lanes <= 0 || gts <= 0) return 0;
    const double encoding = gts <= 5.0 ? 8.0 / 10.0 : (gts >= 64.0 ? 242.0 / 256.0 : 128.0 / 130.0);
    return gts * 1e9 * lanes * encoding / 8.0;
}

inline std::vector<plan::gpu_desc> plan_detect_cuda_gpus(std::vector<std::string>* notes) {
    std::vector<plan::gpu_desc> gpus;
    void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return gpus;  // no driver: no GPUs
    using D = plan_cuda_driver;
    auto sym = [&](const char* name) { return ::dlsym(lib, name); };
    auto init = reinterpret_cast<D::init_fn>(sym("cuInit"));
    auto count = reinterpret_cast<D::count_fn>(sym("cuDeviceGetCount"));
    auto get = reinterpret_cast<D::get_fn>(sym("cuDeviceGet"));
    auto name = reinterpret_cast<D::name_fn>(sym("cuDeviceGetName"));
    auto mem = reinterpret_cast<D::mem_fn>(sym("cuDeviceTotalMem_v2"));
    auto attr = reinterpret_cast<D::attr_fn>(sym("cuDeviceGetAttribute"));
    int n = 0;
    if (!init || !count || !get || !name || !mem || !attr) {
        if (notes) notes->push_back("libcuda.so.1 lacks a driver API entry point; no GPUs listed");
    } else if (const int rc = init(0); rc != 0) {
        if (notes) notes->push_back(concat("cuInit failed (CUresult ", rc, "); no GPUs listed"));
    } else if (count(&n) == 0) {
        for (int i = 0; i < n; ++i) {
            int dev = 0;
            if (get(&dev, i) != 0) continue;
            plan::gpu_desc g;
            char buf[256] = {};
            if (name(buf, sizeof buf - 1, dev) == 0) g.name = buf;
            std::size_t bytes = 0;
            if (mem(&bytes, dev) == 0) g.memory_bytes = bytes;
            // Kept (CUDA device order must stay), but solve() refuses memory 0: say why here.
            if (g.memory_bytes == 0 && notes)
                notes->push_back(concat("CUDA device ", i, ": cuDeviceTotalMem failed, memory_bytes unknown (0)"));
            auto a = [&](int which) {
                int v = 0;
                return attr(&v, which, dev) == 0 ? v : 0;
            };
            g.sm_count = a(D::attr_multiprocessor_count);
            g.compute_capability = a(D::attr_compute_capability_major) * 10 + a(D::attr_compute_capability_minor);
            const double clock_khz = a(D::attr_memory_clock_rate);
            const double bus_bits = a(D::attr_global_memory_bus_width);
            g.memory_bytes_per_s = 2.0 * clock_khz * 1e3 * bus_bits / 8.0;  // double data rate; 0 if unknown
            g.link_nominal_bytes_per_s =
                plan_pcie_nominal(a(D::attr_pci_domain_id), a(D::attr_pci_bus_id), a(D::attr_pci_device_id));
            gpus.push_back(std::move(g));
        }
    }
    // The library stays loaded: unloading libcuda after cuInit is not supported by the driver.
    return gpus;
}

}  // namespace detail
namespace plan {

/// This machine, as far as it can be read without measuring (see the top of this file for each
/// field's source). Never throws for a missing GPU, driver or hwloc; limits that need measuring stay 0.
inline hardware_desc detect_hardware() {
    hardware_desc hw;
    cpu_desc& cpu = hw.cpu;
    cpu.name = detail::plan_cpuinfo_model_name();
    const cpu_features& f = detected_cpu_features();
    if (cpu.name.empty()) cpu.name = f.brand;
    detail::plan_detect_topology(cpu);
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page = ::sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) cpu.memory_bytes = std::uint64_t(pages) * std::uint64_t(page);
    try {
        cpu.isa = to_string(default_isa().chosen);
    } catch (const error&) {  // an invalid AMXMM_ISA: report the best supported back end
        cpu.isa = to_string(supported_isas().front());
    }
    cpu.amx = isa_supported(isa::amx);
    std::vector<std::string> notes;
    hw.gpus = detail::plan_detect_cuda_gpus(&notes);
    hw.notes = "detected by amxmm::plan::detect_hardware";
    for (const std::string& n : notes) hw.notes += "; " + n;
    return hw;
}

// ================================================================================================
// JSON.
// ================================================================================================

/// The CPU as JSON. Members left unknown (cores, threads or numa_nodes 0, isa empty) are omitted, since
/// apply_overrides requires them to be given as 1 or more / a known ISA.
inline json::value to_json(const cpu_desc& c) {
    json::value o = json::value::object();
    o.set("name", c.name);
    if (c.cores > 0) o.set("cores", c.cores);
    if (c.threads > 0) o.set("threads", c.threads);
    if (c.numa_nodes > 0) o.set("numa_nodes", c.numa_nodes);
    o.set("memory_bytes", c.memory_bytes)
        .set("l2_bytes", c.l2_bytes)
        .set("llc_bytes", c.llc_bytes);
    if (!c.isa.empty()) o.set("isa", c.isa);
    o.set("amx", c.amx)
        .set("dram_read_bytes_per_s", c.dram_read_bytes_per_s)
        .set("matmul_flops", c.matmul_flops)
        .set("vector_flops", c.vector_flops);
    return o;
}

inline json::value to_json(const gpu_desc& g) {
    json::value o = json::value::object();
    o.set("name", g.name)
        .set("memory_bytes", g.memory_bytes)
        .set("memory_bytes_per_s", g.memory_bytes_per_s)
        .set("sm_count", g.sm_count)
        .set("compute_capability", g.compute_capability)
        .set("matmul_flops", g.matmul_flops)
        .set("host_to_device_bytes_per_s", g.host_to_device_bytes_per_s)
        .set("link_nominal_bytes_per_s", g.link_nominal_bytes_per_s);
    return o;
}

/// The machine as JSON (the schema apply_overrides reads; numbers only, sizes in bytes).
/// hardware_from_json(to_json(hw)) gives hw back: unknown CPU members are omitted (see to_json(cpu_desc)).
inline json::value to_json(const hardware_desc& hw) {
    json::value o = json::value::object();
    if (!hw.notes.empty()) o.set("notes", hw.notes);
    o.set("cpu", to_json(hw.cpu));
    json::value gpus = json::value::array();
    for (const gpu_desc& g : hw.gpus) gpus.push_back(to_json(g));
    o.set("gpus", std::move(gpus));
    o.set("gpu_reserve_bytes", hw.gpu_reserve_bytes).set("cpu_reserve_bytes", hw.cpu_reserve_bytes);
    return o;
}

}  // namespace plan
namespace detail {

inline std::uint64_t plan_json_size(const plan::json::value& v) {
    if (v.is_string()) {
        try {
            return plan::parse_size(v.as_string());
        } catch (const error& e) {
            throw error(errc::malformed_input, e.what());
        }
    }
    return v.as_uint();
}

inline double plan_json_rate(const plan::json::value& v) {
    double r = 0;
    if (v.is_string()) {
        try {
            r = plan::parse_rate(v.as_string());
        } catch (const error& e) {
            throw error(errc::malformed_input, e.what());
        }
    } else {
        r = v.as_number();
    }
    require(std::isfinite(r) && r >= 0, errc::malformed_input, "rate", " = ", r, " (a non-negative number expected)");
    return r;
}

inline int plan_json_count(const plan::json::value& v, int min) {
    const std::int64_t i = v.as_int();
    require(i >= min && i <= (std::int64_t(1) << 24), errc::malformed_input, "count", " = ", i, " (", min,
            " or more expected)");
    return static_cast<int>(i);
}

inline void plan_apply_cpu(plan::cpu_desc& c, const plan::json::value& j, const char* fn, const std::string& where) {
    json_require_object(j,
                        {"name", "cores", "threads", "numa_nodes", "memory_bytes", "l2_bytes", "llc_bytes", "isa", "amx",
                         "dram_read_bytes_per_s", "matmul_flops", "vector_flops", "notes"},
                        fn, where);
    using V = plan::json::value;
    json_member(j, "name", fn, where, [&](const V& v) { c.name = v.as_string(); });
    json_member(j, "cores", fn, where, [&](const V& v) { c.cores = plan_json_count(v, 1); });
    json_member(j, "threads", fn, where, [&](const V& v) { c.threads = plan_json_count(v, 1); });
    json_member(j, "numa_nodes", fn, where, [&](const V& v) { c.numa_nodes = plan_json_count(v, 1); });
    json_member(j, "memory_bytes", fn, where, [&](const V& v) { c.memory_bytes = plan_json_size(v); });
    json_member(j, "l2_bytes", fn, where, [&](const V& v) { c.l2_bytes = plan_json_size(v); });
    json_member(j, "llc_bytes", fn, where, [&](const V& v) { c.llc_bytes = plan_json_size(v); });
    json_member(j, "isa", fn, where, [&](const V& v) {
        const std::string& s = v.as_string();
        require(parse_isa(s).has_value(), errc::malformed_input, "isa", " \"", s,
                "\" is not one of amx, avx512_vnni, avx2, scalar, amx_emulated");
        c.isa = s;
    });
    json_member(j, "amx", fn, where, [&](const V& v) { c.amx = v.as_bool(); });
    json_member(j, "dram_read_bytes_per_s", fn, where, [&](const V& v) { c.dram_read_bytes_per_s = plan_json_rate(v); });
    json_member(j, "matmul_flops", fn, where, [&](const V& v) { c.matmul_flops = plan_json_rate(v); });
    json_member(j, "vector_flops", fn, where, [&](const V& v) { c.vector_flops = plan_json_rate(v); });
}

inline void plan_apply_gpu(plan::gpu_desc& g, const plan::json::value& j, const char* fn, const std::string& where) {
    json_require_object(j,
                        {"name", "memory_bytes", "memory_bytes_per_s", "sm_count", "compute_capability", "matmul_flops",
                         "host_to_device_bytes_per_s", "link_nominal_bytes_per_s", "notes"},
                        fn, where);
    using V = plan::json::value;
    json_member(j, "name", fn, where, [&](const V& v) { g.name = v.as_string(); });
    json_member(j, "memory_bytes", fn, where, [&](const V& v) { g.memory_bytes = plan_json_size(v); });
    json_member(j, "memory_bytes_per_s", fn, where, [&](const V& v) { g.memory_bytes_per_s = plan_json_rate(v); });
    json_member(j, "sm_count", fn, where, [&](const V& v) { g.sm_count = plan_json_count(v, 0); });
    json_member(j, "compute_capability", fn, where, [&](const V& v) { g.compute_capability = plan_json_count(v, 0); });
    json_member(j, "matmul_flops", fn, where, [&](const V& v) { g.matmul_flops = plan_json_rate(v); });
    json_member(j, "host_to_device_bytes_per_s", fn, where,
                [&](const V& v) { g.host_to_device_bytes_per_s = plan_json_rate(v); });
    json_member(j, "link_nominal_bytes_per_s", fn, where,
                [&](const V& v) { g.link_nominal_bytes_per_s = plan_json_rate(v); });
}

}  // namespace detail
namespace plan {

/// Overrides the fields of `hw` that `j` names; everything else stays. Schema (all members optional;
/// unknown members are errors; sizes are numbers of bytes or strings such as "32GiB", "24 GB"; rates are
/// numbers or strings such as "1.79 TB/s", "210 TFLOP/s"):
///
///   {
///     "notes": "where these numbers come from",
///     "cpu": { "name", "cores", "threads", "numa_nodes", "memory_bytes", "l2_bytes", "llc_bytes",
///              "isa" ("amx" | "avx512_vnni" | "avx2" | "scalar" | "amx_emulated"), "amx" (bool),
///              "dram_read_bytes_per_s", "matmul_flops", "vector_flops", "notes" },
///     "gpus": [ { "name", "memory_bytes", "memory_bytes_per_s", "sm_count", "compute_capability",
///                 "matmul_flops", "host_to_device_bytes_per_s", "link_nominal_bytes_per_s", "notes" },
///               ... ],              // element i overrides GPU i; elements past the end add GPUs
///     "all_gpus": { ...gpu members... },   // applied to every GPU (after "gpus")
///     "gpu_count": 2,                // then: fewer GPUs drop the last ones; more repeat the last GPU
///                                    // (or add blank ones when there is none); 0 = CPU only
///     "gpu_reserve_bytes": "512MiB", "cpu_reserve_bytes": "2GiB"
///   }
///
/// Errors are malformed_input naming the member ("apply_overrides: gpus[0].memory_bytes: ...").
/// `hw` is unchanged when an error is thrown.
inline void apply_overrides(hardware_desc& hw, const json::value& j) {
    const char* fn = "apply_overrides";
    detail::json_require_object(
        j, {"notes", "cpu", "gpus", "all_gpus", "gpu_count", "gpu_reserve_bytes", "cpu_reserve_bytes"}, fn, "hardware");
    hardware_desc out = hw;
    using V = json::value;
    detail::json_member(j, "notes", fn, "hardware", [&](const V& v) { out.notes = v.as_string(); });
    if (const V* c = j.find("cpu")) detail::plan_apply_cpu(out.cpu, *c, fn, "hardware.cpu");
    if (const V* gs = j.find("gpus")) {
        if (!gs->is_array())
            detail::json_fail(fn, "hardware.gpus", "expected an array, found ", json::kind_name(gs->type()));
        for (std::size_t i = 0; i < gs->items().size(); ++i) {
            if (i >= out.gpus.size()) out.gpus.emplace_back();
            detail::plan_apply_gpu(out.gpus[i], gs->items()[i], fn, detail::concat("hardware.gpus[", i, "]"));
        }
    }
    if (const V* all = j.find("all_gpus"))
        for (gpu_desc& g : out.gpus) detail::plan_apply_gpu(g, *all, fn, "hardware.all_gpus");
    detail::json_member(j, "gpu_count", fn, "hardware", [&](const V& v) {
        const int n = detail::plan_json_count(v, 0);
        const gpu_desc model = out.gpus.empty() ? gpu_desc{} : out.gpus.back();
        out.gpus.resize(static_cast<std::size_t>(n), model);
    });
    detail::json_member(j, "gpu_reserve_bytes", fn, "hardware",
                        [&](const V& v) { out.gpu_reserve_bytes = detail::plan_json_size(v); });
    detail::json_member(j, "cpu_reserve_bytes", fn, "hardware",
                        [&](const V& v) { out.cpu_reserve_bytes = detail::plan_json_size(v); });
    hw = std::move(out);
}

/// A machine described entirely by JSON (apply_overrides on a blank hardware_desc: fields not given
/// are 0 / unknown, reserves keep their defaults).
inline hardware_desc hardware_from_json(const json::value& j) {
    hardware_desc hw;
    hw.cpu.numa_nodes = 1;
    apply_overrides(hw, j);
    return hw;
}

/// Reads a hardware JSON file (see apply_overrides for the schema); errors carry the path.
inline hardware_desc hardware_from_json_file(const std::string& path) {
    const json::value j = json::parse_file(path);
    try {
        return hardware_from_json(j);
    } catch (const error& e) {
        throw error(e.code(), path + ": " + e.what());
    }
}


}  // namespace plan
AMXMM_NAMESPACE_END
