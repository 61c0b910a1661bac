// Writes a tiny hand-built llama-architecture GGUF model (1.9 MB, no training, no download, no dependency) so that
// tests can run a real llama.cpp server against something that answers deterministically, on any CPU, in milliseconds.
//
// The model is a "bigram" table: attention and FFN weights are zero, so the residual stream stays the one-hot token
// embedding and the output matrix alone picks the next token from the current one. Greedy decoding then gives:
//   - any prompt: "Hello from a real llama.cpp server." then </s> (OpenAI finish_reason "stop");
//   - a last user message exactly "/loop": " tick tock tick tock ..." without end, so max_tokens stops it
//     (finish_reason "length"), which gives tests a stream that runs as long as they want to cancel it.
// The chat template (ChatML-like) appends a control token for "/loop"; everything else reaches the sentence.
//
// Deliberately not a language model: it ignores the prompt's content, has no tool calls and no reasoning tokens.
// Sampling settings other than greedy (temperature > 0) can still only pick among the tokens the table allows.
//
// Usage: node scripts/make-tiny-gguf.mjs OUT.gguf   (prints a JSON summary on stdout)
import { writeFileSync } from "node:fs"

const out = process.argv[2]
if (out === undefined) {
  console.error("usage: node scripts/make-tiny-gguf.mjs OUT.gguf")
  process.exit(2)
}

// ---- vocabulary (SentencePiece-style "llama" tokenizer: ▁ is a space; byte fallback tokens) ----
const NORMAL = 1
const UNKNOWN = 2
const CONTROL = 3
const BYTE = 6
const tokens = []
const types = []
const scores = []
const add = (text, type, score = 0) => {
  tokens.push(text)
  types.push(type)
  scores.push(score)
  return tokens.length - 1
}
const UNK = add("<unk>", UNKNOWN)
const BOS = add("<s>", CONTROL)
const EOS = add("</s>", CONTROL)
add("<|im_start|>", CONTROL)
add("<|im_end|>", CONTROL)
const LOOP = add("<|loop|>", CONTROL)
for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, BYTE)
const sentence = ["Hello", "▁from", "▁a", "▁real", "▁llama.cpp", "▁server", "."].map((w) => add(w, NORMAL, -1))
const loop = ["▁tick", "▁tock"].map((w) => add(w, NORMAL, -1))
const nVocab = tokens.length

// ---- the next-token table: every token leads into the sentence, except the sentence itself and the loop ----
const next = Array.from({ length: nVocab }, () => sentence[0])
for (let i = 0; i < sentence.length - 1; i++) next[sentence[i]] = sentence[i + 1]
next[sentence.at(-1)] = EOS
next[LOOP] = loop[0]
next[loop[0]] = loop[1]
next[loop[1]] = loop[0]

// ---- hyper-parameters ----
const nHead = 4
const nEmbd = Math.ceil(nVocab / (nHead * 2)) * nHead * 2 // >= vocab, divisible by the heads, even head dimension
const nFf = 32
const nLayer = 1
const nCtx = 4096
const headDim = nEmbd / nHead

// ---- tensors (shape as ggml's ne: [ne0, ne1]; data row-major, ne1 rows of ne0) ----
const f32 = (n, fill = 0) => new Float32Array(n).fill(fill)
const tensors = []
const tensor = (name, ne, data) => tensors.push({ name, ne, data, offset: 0 })
const embedding = f32(nEmbd * nVocab)
for (let t = 0; t < nVocab; t++) embedding[t * nEmbd + t] = 1 // one-hot row per token
tensor("token_embd.weight", [nEmbd, nVocab], embedding)
tensor("output_norm.weight", [nEmbd], f32(nEmbd, 1))
const output = f32(nEmbd * nVocab) // row j: the logit weights of token j
for (let t = 0; t < nVocab; t++) output[next[t] * nEmbd + t] = 1
tensor("output.weight", [nEmbd, nVocab], output)
for (let l = 0; l < nLayer; l++) {
  tensor(`blk.${l}.attn_norm.weight`, [nEmbd], f32(nEmbd, 1))
  tensor(`blk.${l}.attn_q.weight`, [nEmbd, nEmbd], f32(nEmbd * nEmbd))
  tensor(`blk.${l}.attn_k.weight`, [nEmbd, nEmbd], f32(nEmbd * nEmbd))
  tensor(`blk.${l}.attn_v.weight`, [nEmbd, nEmbd], f32(nEmbd * nEmbd))
  tensor(`blk.${l}.attn_output.weight`, [nEmbd, nEmbd], f32(nEmbd * nEmbd))
  tensor(`blk.${l}.ffn_norm.weight`, [nEmbd], f32(nEmbd, 1))
  tensor(`blk.${l}.ffn_gate.weight`, [nEmbd, nFf], f32(nEmbd * nFf))
  tensor(`blk.${l}.ffn_up.weight`, [nEmbd, nFf], f32(nEmbd * nFf))
  tensor(`blk.${l}.ffn_down.weight`, [nFf, nEmbd], f32(nFf * nEmbd))
}

// ---- metadata ----
const chatTemplate =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}"
  + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
  + "{% if messages[-1]['content'] == '/loop' %}{{ '<|loop|>' }}{% endif %}{% endif %}"
const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9 }
const kv = [
  ["general.architecture", T.STRING, "llama"],
  ["general.name", T.STRING, "tiny-bigram (synthetic, untrained)"],
  ["general.alignment", T.U32, 32],
  ["llama.context_length", T.U32, nCtx],
  ["llama.embedding_length", T.U32, nEmbd],
  ["llama.block_count", T.U32, nLayer],
  ["llama.feed_forward_length", T.U32, nFf],
  ["llama.attention.head_count", T.U32, nHead],
  ["llama.attention.head_count_kv", T.U32, nHead],
  ["llama.rope.dimension_count", T.U32, headDim],
  ["llama.attention.layer_norm_rms_epsilon", T.F32, 1e-5],
  ["llama.vocab_size", T.U32, nVocab],
  ["general.file_type", T.U32, 0],
  ["tokenizer.ggml.model", T.STRING, "llama"],
  ["tokenizer.ggml.tokens", T.ARRAY, [T.STRING, tokens]],
  ["tokenizer.ggml.scores", T.ARRAY, [T.F32, scores]],
  ["tokenizer.ggml.token_type", T.ARRAY, [T.I32, types]],
  ["tokenizer.ggml.unknown_token_id", T.U32, UNK],
  ["tokenizer.ggml.bos_token_id", T.U32, BOS],
  ["tokenizer.ggml.eos_token_id", T.U32, EOS],
  ["tokenizer.ggml.add_bos_token", T.BOOL, true],
  ["tokenizer.ggml.add_eos_token", T.BOOL, false],
  ["tokenizer.chat_template", T.STRING, chatTemplate]
]

// ---- serialization (GGUF v3, little endian, 32-byte aligned tensor data) ----
const chunks = []
let size = 0
const push = (buffer) => {
  chunks.push(buffer)
  size += buffer.length
}
const fixed = (bytes, write) => {
  const buffer = Buffer.alloc(bytes)
  write(buffer)
  push(buffer)
}
const u32 = (v) => fixed(4, (b) => b.writeUInt32LE(v))
const i32 = (v) => fixed(4, (b) => b.writeInt32LE(v))
const u64 = (v) => fixed(8, (b) => b.writeBigUInt64LE(BigInt(v)))
const f32value = (v) => fixed(4, (b) => b.writeFloatLE(v))
const string = (s) => {
  const buffer = Buffer.from(s, "utf8")
  u64(buffer.length)
  push(buffer)
}
const value = (type, v) => {
  switch (type) {
    case T.U32:
      return u32(v)
    case T.I32:
      return i32(v)
    case T.F32:
      return f32value(v)
    case T.BOOL:
      return push(Buffer.from([v ? 1 : 0]))
    case T.STRING:
      return string(v)
    case T.ARRAY: {
      const [elementType, items] = v
      u32(elementType)
      u64(items.length)
      for (const item of items) value(elementType, item)
      return
    }
    default:
      throw new Error(`unknown GGUF value type ${type}`)
  }
}
const ALIGNMENT = 32
const align = (n) => Math.ceil(n / ALIGNMENT) * ALIGNMENT

push(Buffer.from("GGUF", "ascii"))
u32(3)
u64(tensors.length)
u64(kv.length)
for (const [key, type, v] of kv) {
  string(key)
  u32(type)
  value(type, v)
}
let offset = 0
for (const t of tensors) {
  string(t.name)
  u32(t.ne.length)
  for (const dimension of t.ne) u64(dimension)
  u32(0) // GGML_TYPE_F32
  u64(offset)
  t.offset = offset
  offset = align(offset + t.data.byteLength)
}
push(Buffer.alloc(align(size) - size))
const dataStart = size
for (const t of tensors) {
  const padding = dataStart + t.offset - size
  if (padding > 0) push(Buffer.alloc(padding))
  push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))
}
writeFileSync(out, Buffer.concat(chunks))
console.log(JSON.stringify({ out, bytes: size, nVocab, nEmbd, tensors: tensors.length }))
