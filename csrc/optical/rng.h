// Counter-based random numbers of the optical kernels: every normal is a pure function of
// (seed, stream, element index), so programming noise, drift exponents, accumulated read noise
// and detector noise do not depend on the thread count or on how a range is split, and drift can
// regenerate its per-cell draws from the seed instead of storing them.
#pragma once

#include <cstdint>

namespace photonic {
namespace optical {

// Streams: independent key spaces of one seed.
inline constexpr uint64_t kStreamProgram = 1;
inline constexpr uint64_t kStreamDrift = 2;
inline constexpr uint64_t kStreamRead = 3;
inline constexpr uint64_t kStreamReadNoise = 4;  // accumulated 1/f read noise of an aged state
inline constexpr uint64_t kStreamTrain = 5;      // cells drawn for a training forward

inline uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

inline uint64_t stream_key(int64_t seed, uint64_t stream) {
  return mix64(mix64(static_cast<uint64_t>(seed)) ^ (stream * 0xD1B54A32D192ED03ULL));
}

// Standard normals (rng.cpp): element i of a stream is a pure function of (key, i). Element i
// takes half (i & 1) of the 64-bit hash of counter i >> 1; its 32-bit uniform goes through the
// inverse normal CDF, tabulated at 2^12 + 1 points and interpolated linearly (the two outermost
// intervals, |z| > 3.35, computed exactly).

// The normal of element index i.
float normal_at(uint64_t key, uint64_t i);

// Normals for the consecutive element indices [i0, i0 + n) (the values of normal_at), so they
// do not depend on how a range is split between threads.
void fill_normals(uint64_t key, int64_t i0, int64_t n, float* out);

}  // namespace optical
}  // namespace photonic
