// Built-in SPM tokenizer vs libsentencepiece on the same tokenizer.model: identical ids,
// decoding and TokenBytes on corpora, source code, Unicode, whitespace and byte soup.
#include <filesystem>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/tokenizers/libsentencepiece_tokenizer.h"
#include "engine/tokenizers/test_vectors.h"
#include "engine/tokenizers/text_util.h"
#include "gtest/gtest.h"
#include "tests/fixtures.h"

namespace stocha::tokenizers {
namespace {

// Lines, paragraphs and one large chunk of every corpus in shared/data/corpora.
void AddCorpusTexts(std::vector<std::string>& texts) {
  for (const char* name :
       {"tinyshakespeare_input.txt", "tinystories_train_head.txt", "tinystories_valid_head.txt"}) {
    auto text = ReadFileToString(SharedDataPath(std::string("corpora/") + name));
    ASSERT_TRUE(text.ok()) << text.status();
    std::vector<std::string> lines = absl::StrSplit(*text, '\n');
    const size_t mid = lines.size() / 2;
    for (size_t i = 0; i < lines.size() && i < 300; ++i) texts.push_back(lines[i]);
    for (size_t i = mid; i < lines.size() && i < mid + 300; ++i) texts.push_back(lines[i]);
    std::vector<std::string> paragraphs = absl::StrSplit(*text, "\n\n");
    for (size_t i = 0; i < paragraphs.size() && i < 300; ++i) texts.push_back(paragraphs[i]);
    texts.push_back(text->substr(0, 20000));
  }
}

// Python from the system's standard library (if there is one) and C++ from this repository.
void AddSourceCode(std::vector<std::string>& texts) {
  std::vector<std::string> files = {std::string(STOCHA_SOURCE_DIR) +
                                    "/engine/tokenizers/gguf_spm_tokenizer.cc"};
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib", ec)) {
    const std::string dir = entry.path().filename().string();
    const auto py = entry.path() / "textwrap.py";
    if (dir.starts_with("python3.") && std::filesystem::exists(py)) {
      files.push_back(py.string());
      break;
    }
  }
  for (const std::string& file : files) {
    auto text = ReadFileToString(file);
    ASSERT_TRUE(text.ok()) << text.status();
    for (size_t pos = 0; pos < text->size(); pos += 1500) texts.push_back(text->substr(pos, 1500));
    std::vector<std::string> lines = absl::StrSplit(*text, '\n');
    for (size_t i = 0; i < lines.size() && i < 300; ++i) texts.push_back(lines[i]);
  }
}

std::vector<std::string> HandWrittenTexts() {
  return {
      "",
      " ",
      "  ",
      "\t",
      "\n",
      "Hello world",
      " Hello world",
      "Hello world ",
      "  leading and trailing  ",
      "a  b   c    d     e",
      "tabs\tand\t\tnewlines\n\n\nand\r\ncrlf",
      " \t \n \t\t  \n\n  ",
      "1234567890 3.14159 2024-01-01 1,000,000 007",
      "Ünïcödé àccénts: café, naïve, Ångström, Øresund, façade",
      "e\xCC\x81 (e + combining acute) vs \xC3\xA9",
      "中文测试：你好，世界。日本語のテキスト、カタカナ。한국어 텍스트",
      "emoji 😀 🎉 👩‍👩‍👧 👍🏽 🇫🇷 ❤️",
      "العربية من اليمين إلى اليسار",
      "עברית מימין לשמאל",
      "mixed RTL: abc \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D def",
      "<s> </s> <unk> <pad> <s>hi</s>",
      "<0x0A> <0x41>< 0x0A> <0xZZ>",
      "\xE2\x96\x81 \xE2\x96\x81\xE2\x96\x81 visible spaces",
      std::string("nul\0byte", 8),
      "\x01\x02\x1B[31mcontrol\x7F",
      "\xEF\xBB\xBF"  // NOLINT(bugprone-suspicious-missing-comma): split after \xBF on purpose
      "BOM first",
      "\xEF\xBF\xBD replacement char",
      "invalid \xFF\xFE bytes",
      "truncated \xE2\x82",
      "truncated at end \xF0\x9F\x98",
      "surrogate \xED\xA0\x80 overlong \xC0\xAF \xE0\x80\xAF beyond \xF4\x90\x80\x80",
      "stray continuation \x80\xBF",
      "\xC3",
      "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
      "don't won't it's we're they've I'd",
      "def f(x):\n    return x ** 2  # square\n",
      "https://example.com/path?q=1&r=2#frag user@example.com",
      "\U0010FFFF \U0001F600 \u00A0nbsp \u2028 \u3000ideographic space",
  };
}

// Random strings from pieces that stress merging, byte fallback and normalization.
std::vector<std::string> RandomTexts(int n) {
  static const std::vector<std::string> kParts = {"a",        "b",
                                                  "e",        "the",
                                                  " the",     "ing",
                                                  " ",        "  ",
                                                  "\t",       "\n",
                                                  "é",        "中",
                                                  "文",       "😀",
                                                  "ا",        "ש",
                                                  "1",        "23",
                                                  ".",        "'s",
                                                  "<s>",      "</s>",
                                                  "<",        ">",
                                                  "<0x0A>",   "\xE2\x96\x81",
                                                  "\xFF",     "\xE2\x82",
                                                  "\xC0\xAF", "Once",
                                                  " upon",    " a",
                                                  " time",    "\xEF\xBF\xBD"};
  std::mt19937 rng(20240917);
  std::uniform_int_distribution<int> len(1, 24);
  std::uniform_int_distribution<size_t> pick(0, kParts.size() - 1);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    for (int k = len(rng); k > 0; --k) s += kParts[pick(rng)];
    out.push_back(std::move(s));
  }
  return out;
}

bool IsValidUtf8WithoutSpmSpace(std::string_view s) {
  if (s.find(kSpmSpace) != std::string_view::npos) return false;
  for (size_t i = 0; i < s.size();) {
    const unsigned char lead = static_cast<unsigned char>(s[i]);
    const int len = lead < 0x80             ? 1
                    : (lead & 0xE0) == 0xC0 ? 2
                    : (lead & 0xF0) == 0xE0 ? 3
                    : (lead & 0xF8) == 0xF0 ? 4
                                            : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? lead : lead & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) {
      const unsigned char c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

struct ModelFile {
  const char* name;
  bool in_shared;    // under shared/data (may be absent) or in this repository
  const char* path;  // relative to shared/data or to the source directory

  friend void PrintTo(const ModelFile& m, std::ostream* os) { *os << m.path; }
};

class SentencePieceDifferentialTest : public ::testing::TestWithParam<ModelFile> {
 protected:
  void SetUp() override {
    const ModelFile& m = GetParam();
    const std::string path =
        m.in_shared ? SharedDataPath(m.path) : std::string(STOCHA_SOURCE_DIR) + "/" + m.path;
    if (m.in_shared && !Exists(path)) STOCHA_FIXTURE_ABSENT(path << " absent (no ../shared)");
    auto built_in = LoadSentencePieceTokenizer(path, SentencePieceBackend::kBuiltIn);
    ASSERT_TRUE(built_in.ok()) << built_in.status();
    auto library = LoadSentencePieceTokenizer(path, SentencePieceBackend::kLibrary);
    ASSERT_TRUE(library.ok()) << library.status();
    built_in_ = std::move(*built_in);
    library_ = std::move(*library);
  }

  // Encodes every text both ways; returns how many agreed. Reports the first few mismatches.
  int Compare(const std::vector<std::string>& texts) {
    int agreed = 0, reported = 0;
    for (const std::string& text : texts) {
      auto a = built_in_->Encode(text, /*add_bos=*/false);
      auto b = library_->Encode(text, /*add_bos=*/false);
      if (!a.ok() || !b.ok()) {
        ADD_FAILURE() << a.status() << " " << b.status();
        continue;
      }
      const std::string decoded = built_in_->Decode(*a);
      const bool same = *a == *b && decoded == library_->Decode(*b) &&
                        (!IsValidUtf8WithoutSpmSpace(text) || decoded == text);
      agreed += same;
      if (!same && ++reported <= 10) {
        ADD_FAILURE() << "text \"" << absl::CEscape(text) << "\"\n  built-in: ["
                      << absl::StrJoin(*a, " ") << "] \"" << absl::CEscape(decoded)
                      << "\"\n  library:  [" << absl::StrJoin(*b, " ") << "] \""
                      << absl::CEscape(library_->Decode(*b)) << "\"";
      }
    }
    return agreed;
  }

  std::unique_ptr<Tokenizer> built_in_, library_;
};

TEST_P(SentencePieceDifferentialTest, SameSpecialIds) {
  EXPECT_EQ(built_in_->vocab_size(), library_->vocab_size());
  EXPECT_EQ(built_in_->bos_id(), library_->bos_id());
  EXPECT_EQ(built_in_->eos_id(), library_->eos_id());
  EXPECT_EQ(*built_in_->Encode("", true), std::vector<int>{built_in_->bos_id()});
  EXPECT_EQ(*built_in_->Encode("Once upon a time", true),
            *library_->Encode("Once upon a time", true));
}

TEST_P(SentencePieceDifferentialTest, SameIdsOnCorpora) {
  std::vector<std::string> texts;
  if (!Exists(SharedDataPath("corpora"))) STOCHA_FIXTURE_ABSENT("shared/data/corpora absent");
  AddCorpusTexts(texts);
  ASSERT_GT(texts.size(), 1500u);
  EXPECT_EQ(Compare(texts), static_cast<int>(texts.size()));
}

TEST_P(SentencePieceDifferentialTest, SameIdsOnSourceCode) {
  std::vector<std::string> texts;
  AddSourceCode(texts);
  EXPECT_EQ(Compare(texts), static_cast<int>(texts.size()));
}

TEST_P(SentencePieceDifferentialTest, SameIdsOnHandWrittenTexts) {
  const std::vector<std::string> texts = HandWrittenTexts();
  EXPECT_EQ(Compare(texts), static_cast<int>(texts.size()));
}

TEST_P(SentencePieceDifferentialTest, SameIdsOnRandomTexts) {
  const std::vector<std::string> texts = RandomTexts(1000);
  EXPECT_EQ(Compare(texts), static_cast<int>(texts.size()));
}

TEST_P(SentencePieceDifferentialTest, SameTokenBytesForEveryId) {
  const int n = library_->vocab_size();
  int differ = 0;
  for (int id = -1; id <= n; ++id) {
    for (int prev : {-1, library_->bos_id(), library_->eos_id(), 3, id - 1}) {
      if (built_in_->TokenBytes(prev, id) != library_->TokenBytes(prev, id) && ++differ <= 10) {
        ADD_FAILURE() << "TokenBytes(" << prev << ", " << id << "): built-in \""
                      << absl::CEscape(built_in_->TokenBytes(prev, id)) << "\", library \""
                      << absl::CEscape(library_->TokenBytes(prev, id)) << "\"";
      }
    }
  }
  EXPECT_EQ(differ, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, SentencePieceDifferentialTest,
    ::testing::Values(ModelFile{"llama2", true, "llama2-tokenizer/tokenizer.model"},
                      ModelFile{"default", false, "models/default/tokenizer.model"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace stocha::tokenizers
