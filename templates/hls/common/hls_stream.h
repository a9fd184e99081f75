// SPDX-License-Identifier: Apache-2.0
// Copyright The sparseforge developers.
//
// hls::stream for C simulation, written for sparseforge (not derived from any
// vendor header).  sparseforge's C-sim runner puts this folder first on the include
// path, so `#include "hls_stream.h"` in a design finds this file; Vitis HLS
// synthesis uses its own header instead.
//
// A stream is an unbounded FIFO (std::deque): write() never blocks and full() is
// always false, which is what a sequential C simulation of a dataflow design sees.
// Reading an empty stream is a design error (the hardware would stall for ever):
// it prints a message naming the stream on stderr and aborts, so the runner
// reports a failed run rather than a wrong result.  A stream destroyed with
// elements still in it prints a warning on stderr (its data was never consumed).

#ifndef SPARSEFORGE_HLS_STREAM_H
#define SPARSEFORGE_HLS_STREAM_H

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <utility>

namespace hls {

// DEPTH is accepted for source compatibility (hls::stream<T, 16>); the C-sim FIFO
// is unbounded whatever its value.
template <typename T, int DEPTH = 0>
class stream {
 public:
  stream() : name_("hls::stream") {}
  explicit stream(const char* name) : name_(name ? name : "hls::stream") {}
  explicit stream(const std::string& name) : name_(name) {}

  // A stream is a hardware channel: it is passed by reference, never copied.
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  ~stream() {
    if (!fifo_.empty()) {
      std::fprintf(stderr,
                   "WARNING [sparseforge C-sim]: hls::stream '%s' destroyed with %zu "
                   "unread element(s)\n",
                   name_.c_str(), fifo_.size());
    }
  }

  // Blocking read: the oldest element.  Aborts when the stream is empty.
  T read() {
    if (fifo_.empty()) {
      std::fprintf(stderr,
                   "ERROR [sparseforge C-sim]: hls::stream '%s' is read while empty; "
                   "in hardware this read would stall for ever\n",
                   name_.c_str());
      std::fflush(stderr);
      std::abort();
    }
    T value = std::move(fifo_.front());
    fifo_.pop_front();
    return value;
  }

  void read(T& value) { value = read(); }

  // Non-blocking read: false (and `value` untouched) when the stream is empty.
  bool read_nb(T& value) {
    if (fifo_.empty()) return false;
    value = read();
    return true;
  }

  void write(const T& value) { fifo_.push_back(value); }

  // Non-blocking write: always succeeds (the C-sim FIFO is unbounded).
  bool write_nb(const T& value) {
    write(value);
    return true;
  }

  void operator>>(T& value) { read(value); }
  void operator<<(const T& value) { write(value); }

  bool empty() const { return fifo_.empty(); }
  bool full() const { return false; }
  std::size_t size() const { return fifo_.size(); }
  const std::string& name() const { return name_; }

 private:
  std::deque<T> fifo_;
  std::string name_;
};

}  // namespace hls

#endif  // SPARSEFORGE_HLS_STREAM_H
