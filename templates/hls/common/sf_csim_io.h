// SPDX-License-Identifier: Apache-2.0
// Copyright The sparseforge developers.
//
// Testbench side of sparseforge's C-simulation runner (sparseforge.sim.lib.csim).
//
// The runner starts the testbench as `tb RUN_DIR [ARGS...]` with RUN_DIR also its
// working directory.  Every input array is a file RUN_DIR/<name>.bin of raw
// little-endian elements; every output array is written the same way.
//
//   int main(int argc, char** argv) {
//     sf::init(argc, argv);
//     std::vector<int32_t> x = sf::read_array<int32_t>("x", 256);
//     ...
//     sf::write_array("y", y.data(), y.size());
//   }
//
// Trip counters: SF_TRIP(label) inside a loop body counts its iterations in C-sim;
// at normal exit the counts are written to RUN_DIR/tripcounts.txt, one line
// `label count` per label, sorted by label.  Under __SYNTHESIS__ SF_TRIP is empty,
// so a design keeps its counters in the synthesised source.
//
// Elements are copied byte for byte: the runner and the testbench run on the same
// (little-endian, x86-64 / AArch64) machine.

#ifndef SPARSEFORGE_SF_CSIM_IO_H
#define SPARSEFORGE_SF_CSIM_IO_H

#ifndef __SYNTHESIS__

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace sf {

inline std::string& run_dir() {
  static std::string dir = ".";
  return dir;
}

// Takes RUN_DIR from argv[1] (default: the working directory).
inline void init(int argc, char** argv) {
  if (argc > 1 && argv[1] && argv[1][0] != '\0') run_dir() = argv[1];
}

inline std::string array_path(const std::string& name) {
  return run_dir() + "/" + name + ".bin";
}

[[noreturn]] inline void fail(const std::string& message) {
  std::fprintf(stderr, "ERROR [sparseforge C-sim]: %s\n", message.c_str());
  std::fflush(stderr);
  std::exit(3);
}

// Reads exactly `count` elements of T from RUN_DIR/<name>.bin; exits with status 3
// and a message when the file is missing or holds another number of bytes.
template <typename T>
std::vector<T> read_array(const std::string& name, std::size_t count) {
  const std::string path = array_path(name);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("cannot open input " + path);
  std::vector<T> data(count);
  const std::size_t got = count ? std::fread(data.data(), sizeof(T), count, f) : 0;
  const bool longer = std::fgetc(f) != EOF;
  std::fclose(f);
  if (got != count || longer) {
    fail("input " + path + " does not hold " + std::to_string(count) + " elements of " +
         std::to_string(sizeof(T)) + " bytes");
  }
  return data;
}

// Writes `count` elements of T to RUN_DIR/<name>.bin (replacing it).
template <typename T>
void write_array(const std::string& name, const T* data, std::size_t count) {
  const std::string path = array_path(name);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("cannot create output " + path);
  const std::size_t put = count ? std::fwrite(data, sizeof(T), count, f) : 0;
  if (std::fclose(f) != 0 || put != count) fail("cannot write output " + path);
}

template <typename T>
void write_array(const std::string& name, const std::vector<T>& data) {
  write_array(name, data.data(), data.size());
}

// ---------------------------------------------------------------- trip counters

inline void write_tripcounts();

inline std::map<std::string, unsigned long long>& trip_counts() {
  // Registered with atexit after the map is built, so it runs before the map dies.
  static std::map<std::string, unsigned long long> counts;
  static const bool registered = (std::atexit(write_tripcounts), true);
  (void)registered;
  return counts;
}

inline unsigned long long& trip_slot(const char* label) { return trip_counts()[label]; }

inline void write_tripcounts() {
  const std::map<std::string, unsigned long long>& counts = trip_counts();
  if (counts.empty()) return;
  const std::string path = run_dir() + "/tripcounts.txt";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return;
  for (const auto& entry : counts) {
    std::fprintf(f, "%s %llu\n", entry.first.c_str(), entry.second);
  }
  std::fclose(f);
}

}  // namespace sf

// One map look-up per call site (the static reference), then one increment per
// iteration.  `label` is a bare identifier: SF_TRIP(attn_row).
#define SF_TRIP(label)                                                   \
  do {                                                                   \
    static unsigned long long& sf_trip_slot_ = ::sf::trip_slot(#label);  \
    ++sf_trip_slot_;                                                     \
  } while (0)

#else  // __SYNTHESIS__

#define SF_TRIP(label) \
  do {                 \
  } while (0)

#endif  // __SYNTHESIS__

#endif  // SPARSEFORGE_SF_CSIM_IO_H
