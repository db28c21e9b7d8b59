// GGUF, the file format of ggml and llama.cpp models: read one (metadata, tensor table, mmap'd tensor
// data, Q4_0 matrix views) and write small ones.
//
//   value.hpp   metadata values of the 13 GGUF types, arrays, the ordered key -> value table
//   reader.hpp  gguf_file: open (mmap) or parse from memory, validate, look up metadata and tensors
//   writer.hpp  gguf_writer: metadata + tensors -> a GGUF v2/v3 file or byte vector
//
// The format is specified in ggml's docs/gguf.md; reader.hpp sums up the layout.
#pragma once

#include "reader.hpp"
#include "value.hpp"
#include "writer.hpp"
