#include "model/synthetic_vocab.h"

#include <map>
#include <stdexcept>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "model/tokenizer.h"

namespace actinfer {

namespace {

constexpr std::string_view kCorpus = R"CORPUS(The morning was cold and clear when the small boat left the harbor. There were three people on board: an old fisherman, his daughter, and a young man from the city who wanted to learn how the work was done. The sea was calm at first, and the sun rose slowly over the water. The fisherman said that the weather would change in the afternoon, so they had to be back before the wind came. His daughter checked the nets while the young man watched and asked questions about everything he saw.

In the village, the day began in the same way it always did. The baker opened his shop before the light, and the smell of fresh bread moved through the narrow streets. Children walked to school in small groups, talking and laughing. The teacher was waiting for them at the door with a book in her hand. She liked to read a short story at the start of each day, because she believed that stories helped the children think about the world and about other people.

A good question is often more useful than a quick answer. When we try to understand something new, we should first ask what we already know, and then ask what we need to find out. Many of the most important ideas in science began as simple questions that nobody had thought to ask before. Why does the sky change color in the evening? How do birds find their way home over long distances? What makes some materials hard and others soft? Each of these questions has led to years of careful work and to many new discoveries.

The city was very different from the village. There were tall buildings, busy roads, and thousands of people moving in every direction. The young man had lived there all his life, but he had never felt at home. He worked in an office where he spent most of the day looking at a screen and writing reports that few people would ever read. One evening he decided that he wanted to do something with his hands, something that he could see and touch. That was why he had come to the coast.

Learning a new skill takes time and patience. At the beginning, everything seems difficult, and it is easy to make mistakes. The important thing is to keep trying and to pay attention to what happens. A student who practices a little every day will usually make more progress than one who works very hard for a short time and then stops. Good teachers know this, and they give their students small tasks that they can complete, so that they can feel their progress and want to continue.

When the wind began to rise, the fisherman turned the boat toward the shore. The waves grew higher, and the young man held on to the side of the boat. The daughter laughed and told him that this was nothing, that he should see the sea in winter. They reached the harbor just as the first drops of rain began to fall. The catch was not large, but the old man seemed happy. He said that a day on the water was never a wasted day, even when the nets came back almost empty.

Computers are machines that follow instructions. A program is a list of these instructions, written in a language that the machine can understand. Modern programs can be very large and complex, with many parts that work together. To build them, people break a big problem into smaller problems, solve each one, and then combine the solutions. This way of thinking is useful not only for programming but also for many other kinds of work, from planning a trip to organizing a large event.

That night, the three of them sat at the kitchen table and talked for a long time. The young man asked if he could come back the next week, and the fisherman said that he would be welcome. The daughter said that she would teach him how to repair the nets, which was the most boring part of the job but also one of the most important. Outside, the rain continued to fall, and the sound of the sea filled the quiet house.

The history of a place is written in many ways. Some of it is found in books and in records kept by the town. Some of it is found in the names of streets, in old buildings, and in the stories that people tell their children. The village had a small museum with photographs of boats and families from a hundred years ago. Visitors often stopped there for a few minutes, and many of them were surprised to see how little the harbor had changed over the years.

There is a simple rule that many good writers follow: say what you mean, and use the simplest words that will do the job. Long sentences and difficult words can make a text harder to read without making it more interesting. This does not mean that every sentence must be short, but it does mean that every word should have a reason to be there. When you read your own work again, ask yourself whether each part helps the reader understand your ideas.
)CORPUS";

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Byte-pair merges learnt from kCorpus, pre-tokenized into " ?[A-Za-z]+" words (so every
// merge stays inside what GPT-2-style pre-tokenizers keep together). Stops at `limit`
// merges or when no pair occurs twice; ties go to the smallest pair.
std::vector<std::pair<std::string, std::string>> corpus_merges(size_t limit) {
  std::map<std::string, int> word_counts;
  for (size_t i = 0; i < kCorpus.size();) {
    size_t j = i;
    if (kCorpus[j] == ' ' && j + 1 < kCorpus.size() && is_ascii_letter(kCorpus[j + 1])) ++j;
    if (!is_ascii_letter(kCorpus[j])) {
      i = j + 1;
      continue;
    }
    size_t k = j;
    while (k < kCorpus.size() && is_ascii_letter(kCorpus[k])) ++k;
    ++word_counts[std::string(kCorpus.substr(i, k - i))];
    i = k;
  }
  struct Word {
    std::vector<std::string> syms;
    int count;
  };
  std::vector<Word> words;
  for (const auto& [w, n] : word_counts) {
    Word word{{}, n};
    for (unsigned char c : w) word.syms.push_back(gpt2_byte_token(c));
    words.push_back(std::move(word));
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (merges.size() < limit) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const Word& w : words)
      for (size_t i = 0; i + 1 < w.syms.size(); ++i) pairs[{w.syms[i], w.syms[i + 1]}] += w.count;
    const std::pair<std::string, std::string>* best = nullptr;
    int best_count = 1;
    for (const auto& [p, n] : pairs)
      if (n > best_count) best = &p, best_count = n;
    if (!best) break;
    const auto m = *best;
    merges.push_back(m);
    for (Word& w : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < w.syms.size(); ++i) {
        if (i + 1 < w.syms.size() && w.syms[i] == m.first && w.syms[i + 1] == m.second) {
          out.push_back(m.first + m.second);
          ++i;
        } else {
          out.push_back(w.syms[i]);
        }
      }
      w.syms = std::move(out);
    }
  }
  return merges;
}

bool word_like(const std::string& t) {
  size_t i = t.rfind("\xC4\xA0", 0) == 0 ? 2 : 0;  // "Ġ"
  if (i == t.size()) return false;
  for (; i < t.size(); ++i)
    if (!is_ascii_letter(t[i])) return false;
  return true;
}

}  // namespace

std::string gpt2_byte_token(uint8_t b) {
  // The tokenizer's byte-level table (model/tokenizer.h): one GPT-2 byte map in the project.
  const char c = static_cast<char>(b);
  return byte_level_encode(std::string_view(&c, 1));
}

SyntheticVocab make_synthetic_vocab(int n_vocab) {
  if (n_vocab < 259) throw std::invalid_argument("the vocabulary needs at least 259 tokens, not " + std::to_string(n_vocab));
  SyntheticVocab v;
  const size_t n_merges = static_cast<size_t>(n_vocab) - 259;
  std::unordered_set<std::string> known;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(gpt2_byte_token(static_cast<uint8_t>(b)));
    v.token_types.push_back(1);
    known.insert(v.tokens.back());
  }
  auto add_merge = [&](const std::string& a, const std::string& b) {
    v.merges.push_back(a + " " + b);
    v.tokens.push_back(a + b);
    v.token_types.push_back(1);
    known.insert(a + b);
  };
  for (const auto& [a, b] : corpus_merges(n_merges)) add_merge(a, b);
  // More merges than the text gives: extend word-like tokens letter by letter, most
  // frequent letters first.
  if (v.merges.size() < n_merges) {
    std::vector<std::string> stems;
    for (size_t i = 256; i < v.tokens.size(); ++i)
      if (word_like(v.tokens[i])) stems.push_back(v.tokens[i]);
    for (char c = 'a'; c <= 'z'; ++c) stems.push_back(std::string(1, c));
    static constexpr std::string_view kLetters = "etaoinshrdlcumwfgypbvkjxqz";
    for (size_t i = 0; i < stems.size() && v.merges.size() < n_merges; ++i) {
      const std::string a = stems[i];
      for (char c : kLetters) {
        if (v.merges.size() >= n_merges) break;
        const std::string b(1, c);
        if (known.count(a + b)) continue;
        add_merge(a, b);
        stems.push_back(a + b);
      }
    }
  }
  if (v.merges.size() != n_merges) throw std::logic_error("synthetic vocabulary: too few merges");
  v.eos_id = v.bos_id = static_cast<int32_t>(v.tokens.size());
  v.im_start_id = v.eos_id + 1;
  v.im_end_id = v.eos_id + 2;
  for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    v.tokens.push_back(s);
    v.token_types.push_back(3);
  }
  return v;
}

}  // namespace actinfer
