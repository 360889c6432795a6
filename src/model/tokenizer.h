// tokenizers turn an instruction into token ids. the default is a word-level tokenizer whose
// vocabulary is built from the training instructions and saved with the checkpoint.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace avla {

struct TokenizedText {
  std::vector<int64_t> ids;   // length max_len, padded with pad_id
  std::vector<uint8_t> mask;  // 1 for real tokens, 0 for padding
  int n_truncated = 0;        // words dropped past max_len
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual TokenizedText encode(const std::string& text, int max_len) const = 0;
  virtual int vocab_size() const = 0;
  virtual void save(const std::string& path) const = 0;  // atomic json file
};

// lowercase words split on anything that is not a letter or digit. ids: 0 <pad>, 1 <unk>.
class WordTokenizer : public Tokenizer {
 public:
  static constexpr int64_t kPadId = 0;
  static constexpr int64_t kUnkId = 1;

  static WordTokenizer build(const std::vector<std::string>& texts);
  static WordTokenizer from_json(const nlohmann::json& j, const std::string& path);
  static std::vector<std::string> split_words(const std::string& text);

  TokenizedText encode(const std::string& text, int max_len) const override;
  int vocab_size() const override { return static_cast<int>(words_.size()); }
  void save(const std::string& path) const override;
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;  // id -> word
  std::map<std::string, int64_t> ids_;
};

// loads whichever tokenizer a checkpoint's tokenizer.json describes.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace avla
