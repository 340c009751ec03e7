#include <cstdio>
#include <fstream>
#include <sstream>
#include "model/gguf_file.h"
#include "model/tokenizer.h"
using namespace actinfer;
int main(int argc, char** argv) {
  auto g = GgufFile::open(argv[1]);
  Tokenizer tok(tokenizer_data_from_gguf(g));
  std::ifstream f(argv[2]); std::stringstream ss; ss << f.rdbuf();
  auto ids = tok.encode(ss.str(), false, false);
  std::FILE* o = std::fopen(argv[3], "wb");
  std::fwrite(ids.data(), 4, ids.size(), o); std::fclose(o);
  std::printf("%zu tokens\n", ids.size());
}
