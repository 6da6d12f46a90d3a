// The LibTorch half of the architecture registry: the SAE type of every
// architecture in sae/config.hpp's kArchitectures, in the same order. Code
// that turns an architecture chosen at run time (a cfg.json, a Python
// string) into a type dispatches here, so a new architecture is one entry in
// kArchitectures, its header, and one entry in SaeTypes below; the
// static_asserts refuse a build where the lists disagree.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "saematch/sae/archetypal.hpp"
#include "saematch/sae/batch_topk.hpp"
#include "saematch/sae/config.hpp"
#include "saematch/sae/gated.hpp"
#include "saematch/sae/jumprelu.hpp"
#include "saematch/sae/relu_l1.hpp"
#include "saematch/sae/topk.hpp"

namespace saematch::sae {

using SaeTypes = std::tuple<TopKSae, BatchTopKSae, ReluSae, GatedSae, JumpReluSae, ArchetypalSae>;

namespace detail {
template <std::size_t... I>
constexpr bool types_match_registry(std::index_sequence<I...>) {
    return ((std::tuple_element_t<I, SaeTypes>::architecture == kArchitectures[I].architecture) && ...);
}
}  // namespace detail
static_assert(std::tuple_size_v<SaeTypes> == kArchitectures.size(), "one SAE type per architecture");
static_assert(detail::types_match_registry(std::make_index_sequence<std::tuple_size_v<SaeTypes>>{}),
              "SaeTypes in the order of kArchitectures");
static_assert((TrainableSae<TopKSae> && TrainableSae<BatchTopKSae> && TrainableSae<ReluSae> &&
               TrainableSae<GatedSae> && TrainableSae<JumpReluSae> && TrainableSae<ArchetypalSae>));

// f(std::type_identity<Sae>{}) for the SAE type of architecture `a`; every
// branch must return the same type.
template <class F, std::size_t I = 0>
decltype(auto) with_sae_type(Architecture a, F&& f) {
    if constexpr (I == std::tuple_size_v<SaeTypes>) {
        throw std::invalid_argument("no SAE type for architecture " + std::to_string(static_cast<int>(a)));
        return f(std::type_identity<std::tuple_element_t<0, SaeTypes>>{});  // the return type, never reached
    } else {
        using Sae = std::tuple_element_t<I, SaeTypes>;
        if (a == Sae::architecture) return f(std::type_identity<Sae>{});
        return with_sae_type<F, I + 1>(a, std::forward<F>(f));
    }
}

namespace detail {
template <class F, std::size_t... I>
void for_each_sae_type(F& f, std::index_sequence<I...>) {
    (f(std::type_identity<std::tuple_element_t<I, SaeTypes>>{}), ...);
}
}  // namespace detail

// f(std::type_identity<Sae>{}) for every SAE type, in registry order.
template <class F>
void for_each_sae_type(F&& f) {
    detail::for_each_sae_type(f, std::make_index_sequence<std::tuple_size_v<SaeTypes>>{});
}

}  // namespace saematch::sae
