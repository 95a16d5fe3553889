// The names of the quantizer's element formats, scalings and scale rules: the one table that
// parse_format / parse_scaling / parse_rule (quantize.cpp), their error messages and the Python
// list _C._quant_names() (csrc/python/quant.cpp) all read, so they cannot drift apart.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "quant/formats.h"

namespace photonic {
namespace quant {

template <class E>
struct Named {
  const char* name;
  E value;
};

inline constexpr Named<Format> kFormats[] = {
    {"fp8_e4m3", Format::E4M3},
    {"fp8_e5m2", Format::E5M2},
    {"fp4_e2m1", Format::E2M1},
};

inline constexpr Named<Scaling> kScalings[] = {
    {"none", Scaling::None},         {"tensor", Scaling::Tensor},
    {"channel", Scaling::Channel},   {"mx", Scaling::MX},
    {"nvfp4", Scaling::NVFP4},       {"block128", Scaling::Block128},
    {"block128_ue8m0", Scaling::Block128UE8M0},
};

inline constexpr Named<Rule> kRules[] = {
    {"floor", Rule::Floor},
    {"rceil", Rule::RCeil},
};

// The names of a table, in table order.
template <class E, size_t N>
std::vector<std::string> names_of(const Named<E> (&table)[N]) {
  std::vector<std::string> out;
  out.reserve(N);
  for (const auto& e : table) out.emplace_back(e.name);
  return out;
}

// "a, b, c": the list of valid names in error messages.
template <class E, size_t N>
std::string joined_names(const Named<E> (&table)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i) out += ", ";
    out += table[i].name;
  }
  return out;
}

// The entry named `name`, or nullptr.
template <class E, size_t N>
const Named<E>* find_name(const Named<E> (&table)[N], const std::string& name) {
  for (const auto& e : table)
    if (name == e.name) return &e;
  return nullptr;
}

// The name of `value` ("?" if the table lacks it).
template <class E, size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  return "?";
}

}  // namespace quant
}  // namespace photonic
