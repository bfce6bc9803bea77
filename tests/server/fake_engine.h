// A tiny, predictable BatchEngine and Tokenizer for scheduler tests (no model, no OpenMP).
#ifndef STOCHA_TESTS_SERVER_FAKE_ENGINE_H_
#define STOCHA_TESTS_SERVER_FAKE_ENGINE_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/batch_engine.h"

namespace stocha::server::testing {

// Tokens: 0 unused, 1 BOS, 2 EOS, 3.. = 'a'..'z' (one byte each), 29 = 'Z' whose successor
// is EOS. Text "abc" encodes to [BOS, 3, 4, 5].
class FakeTokenizer final : public Tokenizer {
 public:
  absl::StatusOr<std::vector<int>> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    if (add_bos) ids.push_back(1);
    for (char c : text) {
      if (c == 'Z') {
        ids.push_back(29);
      } else if (c >= 'a' && c <= 'z') {
        ids.push_back(3 + (c - 'a'));
      } else {
        return absl::InvalidArgumentError(absl::StrFormat("cannot encode '%c'", c));
      }
    }
    return ids;
  }
  std::string TokenBytes(int /*prev*/, int token) const override {
    if (token >= 3 && token < 29) return std::string(1, static_cast<char>('a' + token - 3));
    if (token == 29) return "Z";
    return "";
  }
  int vocab_size() const override { return 32; }
  int bos_id() const override { return 1; }
  int eos_id() const override { return 2; }
};

// The "model" continues the alphabet: after letter x comes x+1, after 'z' comes 'a', after
// 'Z' comes EOS, after BOS comes 'a'. Logits are a sharp peak on that token (greedy and
// low temperatures follow it) over a flat, seed-independent background.
// Thread-safety: the engine methods run on the scheduler's thread; the inspection methods
// may be called from the test thread (internally locked).
class FakeEngine final : public BatchEngine {
 public:
  static constexpr int kVocab = 32;
  static constexpr int kLayers = 2;
  static constexpr int kFfnDim = 4;

  explicit FakeEngine(int max_context = 64) : max_context_(max_context) {
    config_.hidden_size = 8;
    config_.intermediate_size = kFfnDim;
    config_.num_layers = kLayers;
    config_.num_heads = 1;
    config_.num_kv_heads = 1;
    config_.head_dim = 8;
    config_.vocab_size = kVocab;
    config_.max_position_embeddings = max_context;
    config_.bos_token_id = 1;
    config_.eos_token_ids = {2};
  }

  static int Next(int token) {
    if (token == 29) {
      return 2;
    }
    if (token >= 3 && token < 28) {
      return token + 1;
    }
    return 3;  // BOS, 'z' and anything else -> 'a'
  }

  absl::StatusOr<SequenceId> AddSequence(const SequenceOptions& /*options*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (absl::Status s = NewSlotLocked(); !s.ok()) return s;
    const SequenceId id = next_id_++;
    positions_[id] = 0;
    NoteLiveLocked();
    return id;
  }
  absl::StatusOr<SequenceId> Fork(SequenceId parent, uint32_t /*sample_index*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = positions_.find(parent);
    if (it == positions_.end()) {
      return absl::NotFoundError("no parent");
    }
    if (absl::Status s = NewSlotLocked(); !s.ok()) return s;
    const SequenceId id = next_id_++;
    positions_[id] = it->second;
    ++forks_;
    NoteLiveLocked();
    return id;
  }
  absl::Status RemoveSequence(SequenceId seq) override {
    std::lock_guard<std::mutex> lock(mu_);
    return positions_.erase(seq) == 1 ? absl::OkStatus() : absl::NotFoundError("no sequence");
  }
  absl::StatusOr<StepOutput> Step(absl::Span<const StepInput> inputs) override {
    if (step_delay_ > absl::ZeroDuration()) {
      absl::SleepFor(step_delay_);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_next_steps_ > 0) {
      --fail_next_steps_;
      return absl::InternalError("injected step failure");
    }
    StepOutput out;
    std::vector<int> sizes;
    for (const StepInput& in : inputs) {
      auto it = positions_.find(in.seq);
      if (it == positions_.end()) return absl::NotFoundError("step: no sequence");
      it->second += static_cast<int>(in.tokens.size());
      if (it->second > max_context_) return absl::OutOfRangeError("step: past the context");
      sizes.push_back(in.is_prompt ? -static_cast<int>(in.tokens.size())
                                   : static_cast<int>(in.tokens.size()));
      if (in.is_prompt) prompt_tokens_ += static_cast<int64_t>(in.tokens.size());
      std::vector<float> logits;
      if (in.want_logits) {
        logits.assign(kVocab, 0.0f);
        logits[Next(in.tokens.back())] = 30.0f;
      }
      out.logits.push_back(std::move(logits));
      StepStats s;
      s.ffn_dim = kFfnDim;
      s.layers.resize(kLayers);
      for (LayerStats& l : s.layers) {
        const int64_t n = static_cast<int64_t>(in.tokens.size());
        (in.is_prompt ? l.prompt_tokens : l.generated_tokens) = n;
        (in.is_prompt ? l.prompt_zeros : l.generated_zeros) = n;  // sparsity 1/4
      }
      out.per_input.push_back(s);
    }
    steps_.push_back(sizes);
    int64_t live = 0;
    for (const auto& [id, pos] : positions_) live += pos;
    max_live_positions_ = std::max(max_live_positions_, live);
    return out;
  }

  const ModelConfig& config() const override { return config_; }
  const Tokenizer* tokenizer() const override { return &tokenizer_; }
  int max_context() const override { return max_context_; }
  int64_t KvBytesPerPosition() const override { return 1; }
  KvReservation kv_reservation() const override { return reservation_; }
  std::optional<DeviceMemoryInfo> DeviceMemory() const override { return device_memory_; }
  bool deterministic() const override { return true; }

  // Before the scheduler starts: a GPU-like engine (whole-context slots, device memory).
  void set_kv_reservation(KvReservation r) { reservation_ = r; }
  void set_device_memory(std::optional<DeviceMemoryInfo> m) { device_memory_ = m; }

  // Inspection and fault injection (any thread).
  void set_step_delay(absl::Duration d) { step_delay_ = d; }  // before the scheduler starts
  void FailNextSteps(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_steps_ = n;
  }
  // The next `n` AddSequence/Fork calls, after `after` more succeed, are ResourceExhausted
  // (a GPU slot that does not fit).
  void FailSlots(int after, int n) {
    std::lock_guard<std::mutex> lock(mu_);
    slots_before_failure_ = after;
    fail_slots_ = n;
  }
  int max_live_sequences() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_live_sequences_;
  }
  // Per step, the token count of each input: negative for prompt chunks.
  std::vector<std::vector<int>> steps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return steps_;
  }
  int live_sequences() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(positions_.size());
  }
  int64_t prompt_tokens() const {
    std::lock_guard<std::mutex> lock(mu_);
    return prompt_tokens_;
  }
  int forks() const {
    std::lock_guard<std::mutex> lock(mu_);
    return forks_;
  }
  int64_t max_live_positions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_live_positions_;
  }

 private:
  absl::Status NewSlotLocked() {
    if (fail_slots_ > 0 && slots_before_failure_-- <= 0) {
      --fail_slots_;
      return absl::ResourceExhaustedError("injected: KV slot out of device memory");
    }
    return absl::OkStatus();
  }
  void NoteLiveLocked() {
    max_live_sequences_ = std::max(max_live_sequences_, static_cast<int>(positions_.size()));
  }

  ModelConfig config_;
  FakeTokenizer tokenizer_;
  const int max_context_;
  absl::Duration step_delay_;
  mutable std::mutex mu_;  // guards everything below
  std::map<SequenceId, int> positions_;
  SequenceId next_id_ = 1;
  std::vector<std::vector<int>> steps_;
  int64_t prompt_tokens_ = 0;
  int forks_ = 0;
  int fail_next_steps_ = 0;
  int64_t max_live_positions_ = 0;
  int max_live_sequences_ = 0;
  int slots_before_failure_ = 0;
  int fail_slots_ = 0;
  KvReservation reservation_ = KvReservation::kGrowing;
  std::optional<DeviceMemoryInfo> device_memory_;
};

}  // namespace stocha::server::testing

#endif  // STOCHA_TESTS_SERVER_FAKE_ENGINE_H_
