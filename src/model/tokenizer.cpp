#include "model/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "io/atomic_file.h"
#include "io/json_file.h"
#include "util/error.h"

namespace avla {

std::vector<std::string> WordTokenizer::split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) {
      current.push_back(static_cast<char>(std::tolower(c)));
    } else if (!current.empty()) {
      words.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(current);
  return words;
}

WordTokenizer WordTokenizer::build(const std::vector<std::string>& texts) {
  std::set<std::string> unique;
  for (const auto& t : texts) {
    for (auto& w : split_words(t)) unique.insert(w);
  }
  WordTokenizer tok;
  tok.words_ = {"<pad>", "<unk>"};
  tok.words_.insert(tok.words_.end(), unique.begin(), unique.end());
  for (size_t i = 0; i < tok.words_.size(); ++i) tok.ids_[tok.words_[i]] = static_cast<int64_t>(i);
  return tok;
}

TokenizedText WordTokenizer::encode(const std::string& text, int max_len) const {
  TokenizedText out;
  out.ids.assign(max_len, kPadId);
  out.mask.assign(max_len, 0);
  auto words = split_words(text);
  int n = std::min<int>(static_cast<int>(words.size()), max_len);
  out.n_truncated = static_cast<int>(words.size()) - n;
  for (int i = 0; i < n; ++i) {
    auto it = ids_.find(words[i]);
    out.ids[i] = it == ids_.end() ? kUnkId : it->second;
    out.mask[i] = 1;
  }
  return out;
}

void WordTokenizer::save(const std::string& path) const {
  nlohmann::json j = {{"type", "word"}, {"vocab", words_}};
  write_file_atomic(path, j.dump(1) + "\n");
}

WordTokenizer WordTokenizer::from_json(const nlohmann::json& j, const std::string& path) {
  AVLA_CHECK(j.is_object() && j.contains("vocab") && j["vocab"].is_array(), "tokenizer",
             "{}: expected an object with a 'vocab' array", path);
  WordTokenizer tok;
  for (const auto& w : j["vocab"]) {
    AVLA_CHECK(w.is_string(), "tokenizer", "{}: vocab entry {} is not a string", path, w.dump());
    tok.words_.push_back(w.get<std::string>());
  }
  AVLA_CHECK(tok.words_.size() >= 2 && tok.words_[0] == "<pad>" && tok.words_[1] == "<unk>",
             "tokenizer", "{}: vocab must start with <pad>, <unk>", path);
  for (size_t i = 0; i < tok.words_.size(); ++i) {
    AVLA_CHECK(tok.ids_.emplace(tok.words_[i], static_cast<int64_t>(i)).second, "tokenizer",
               "{}: duplicate word '{}'", path, tok.words_[i]);
  }
  return tok;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  nlohmann::json j = read_json_file(path, "tokenizer");
  std::string type = j.is_object() && j.contains("type") && j["type"].is_string()
                         ? j["type"].get<std::string>()
                         : "";
  AVLA_CHECK(type == "word", "tokenizer", "{}: unknown tokenizer type '{}', expected 'word'", path,
             type);
  return std::make_unique<WordTokenizer>(WordTokenizer::from_json(j, path));
}

}  // namespace avla
