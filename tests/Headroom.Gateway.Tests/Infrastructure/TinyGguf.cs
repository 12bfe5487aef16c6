using System.Text;

namespace Headroom.Gateway.Tests.Infrastructure;

/// <summary>
/// Writes a tiny llama-architecture GGUF with random weights: no package ships a small generative model, and this one
/// loads and generates in milliseconds. The format: header, metadata key/values, tensor infos, then the tensor data,
/// each tensor aligned to 32 bytes. Tensor dimensions are in ggml order (the fastest-varying first).
/// </summary>
internal static class TinyGguf
{
    private const int Alignment = 32;
    public const int ContextLength = 512;

    /// <summary>The model's dimensions: the default loads and generates in milliseconds; benchmarks ask for more work per token.</summary>
    public sealed record Shape(int Embedding = 32, int Heads = 4, int KvHeads = 2, int FeedForward = 64, int Layers = 2);

    // GGUF metadata value types.
    private const uint TypeUInt32 = 4, TypeInt32 = 5, TypeFloat32 = 6, TypeBool = 7, TypeString = 8, TypeArray = 9;

    // llama.cpp token types.
    private const int Normal = 1, Unknown = 2, Control = 3, Byte = 6;

    public static void Write(string path, int seed = 7, Shape? shape = null)
    {
        var (embedding, heads, kvHeads, feedForward, layers) = shape ?? new Shape();
        var (tokens, scores, types) = Vocabulary();
        var headDim = embedding / heads;
        var tensors = new List<(string Name, long[] Dims, bool Ones)>
        {
            ("token_embd.weight", [embedding, tokens.Count], false),
            ("output_norm.weight", [embedding], true),
            ("output.weight", [embedding, tokens.Count], false),
        };
        for (var layer = 0; layer < layers; layer++)
        {
            tensors.Add(($"blk.{layer}.attn_norm.weight", [embedding], true));
            tensors.Add(($"blk.{layer}.attn_q.weight", [embedding, embedding], false));
            tensors.Add(($"blk.{layer}.attn_k.weight", [embedding, kvHeads * headDim], false));
            tensors.Add(($"blk.{layer}.attn_v.weight", [embedding, kvHeads * headDim], false));
            tensors.Add(($"blk.{layer}.attn_output.weight", [embedding, embedding], false));
            tensors.Add(($"blk.{layer}.ffn_norm.weight", [embedding], true));
            tensors.Add(($"blk.{layer}.ffn_gate.weight", [embedding, feedForward], false));
            tensors.Add(($"blk.{layer}.ffn_up.weight", [embedding, feedForward], false));
            tensors.Add(($"blk.{layer}.ffn_down.weight", [feedForward, embedding], false));
        }

        using var file = File.Create(path);
        using var w = new BinaryWriter(file, Encoding.UTF8);
        var metadata = new List<Action>
        {
            () => { Key("general.architecture"); String("llama"); },
            () => { Key("general.name"); String("headroom-tiny-test"); },
            () => { Key("general.alignment"); UInt32(Alignment); },
            () => { Key("general.file_type"); UInt32(0); },
            () => { Key("llama.context_length"); UInt32(ContextLength); },
            () => { Key("llama.embedding_length"); UInt32((uint)embedding); },
            () => { Key("llama.block_count"); UInt32((uint)layers); },
            () => { Key("llama.feed_forward_length"); UInt32((uint)feedForward); },
            () => { Key("llama.attention.head_count"); UInt32((uint)heads); },
            () => { Key("llama.attention.head_count_kv"); UInt32((uint)kvHeads); },
            () => { Key("llama.rope.dimension_count"); UInt32((uint)headDim); },
            () => { Key("llama.attention.layer_norm_rms_epsilon"); w.Write(TypeFloat32); w.Write(1e-5f); },
            () => { Key("llama.vocab_size"); UInt32((uint)tokens.Count); },
            () => { Key("tokenizer.ggml.model"); String("llama"); },
            () =>
            {
                Key("tokenizer.ggml.tokens"); w.Write(TypeArray); w.Write(TypeString); w.Write((ulong)tokens.Count);
                foreach (var token in tokens)
                    RawString(token);
            },
            () =>
            {
                Key("tokenizer.ggml.scores"); w.Write(TypeArray); w.Write(TypeFloat32); w.Write((ulong)scores.Count);
                foreach (var score in scores)
                    w.Write(score);
            },
            () =>
            {
                Key("tokenizer.ggml.token_type"); w.Write(TypeArray); w.Write(TypeInt32); w.Write((ulong)types.Count);
                foreach (var type in types)
                    w.Write(type);
            },
            () => { Key("tokenizer.ggml.bos_token_id"); UInt32(1); },
            () => { Key("tokenizer.ggml.eos_token_id"); UInt32(2); },
            () => { Key("tokenizer.ggml.unknown_token_id"); UInt32(0); },
            () => { Key("tokenizer.ggml.add_bos_token"); w.Write(TypeBool); w.Write(true); },
            () => { Key("tokenizer.ggml.add_eos_token"); w.Write(TypeBool); w.Write(false); },
        };

        w.Write("GGUF"u8);
        w.Write(3u);
        w.Write((ulong)tensors.Count);
        w.Write((ulong)metadata.Count);
        foreach (var write in metadata)
            write();

        ulong offset = 0;
        foreach (var (name, dims, _) in tensors)
        {
            RawString(name);
            w.Write((uint)dims.Length);
            foreach (var dim in dims)
                w.Write((ulong)dim);
            w.Write(0u); // F32
            w.Write(offset);
            offset = Align(offset + (ulong)(dims.Aggregate(1L, (a, b) => a * b) * sizeof(float)));
        }
        Pad();

        // Random weights, except that the model never ends a turn by itself: tests ask for at least one token, and a
        // random model would otherwise pick an end token first about once in a thousand calls. Dimension 0 of every
        // token's embedding carries a constant no layer writes to (their output rows for it are zero), so it reaches
        // the output norm positive whatever the prompt; the end tokens' output rows weigh it strongly negative.
        var ends = new HashSet<int> { tokens.IndexOf("</s>"), tokens.IndexOf("<|im_end|>") };
        var random = new Random(seed);
        foreach (var (name, dims, ones) in tensors)
        {
            var count = dims.Aggregate(1L, (a, b) => a * b);
            var row = dims[0];
            for (var i = 0; i < count; i++)
            {
                var value = ones ? 1f : (float)((random.NextDouble() * 2 - 1) * 0.5);
                if (name == "token_embd.weight" && i % row == 0)
                    value = 4f;
                else if ((name.EndsWith(".attn_output.weight", StringComparison.Ordinal) || name.EndsWith(".ffn_down.weight", StringComparison.Ordinal)) && i < row)
                    value = 0f;
                else if (name == "output.weight" && i % row == 0)
                    value = ends.Contains((int)(i / row)) ? -30f : 0f;
                w.Write(value);
            }
            Pad();
        }

        void Key(string key) => RawString(key);
        void String(string value) { w.Write(TypeString); RawString(value); }
        void UInt32(uint value) { w.Write(TypeUInt32); w.Write(value); }
        void RawString(string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            w.Write((ulong)bytes.Length);
            w.Write(bytes);
        }
        void Pad()
        {
            w.Flush();
            while (file.Position % Alignment != 0)
                w.Write((byte)0);
        }
    }

    private static ulong Align(ulong value) => (value + Alignment - 1) / Alignment * Alignment;

    /// <summary>
    /// A SentencePiece-style vocabulary: unknown, BOS, EOS, all 256 byte tokens (llama.cpp falls back to them for any
    /// character it lacks), the word-boundary mark and letters, and a few whole words so tokenization merges something.
    /// </summary>
    private static (List<string> Tokens, List<float> Scores, List<int> Types) Vocabulary()
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var types = new List<int> { Unknown, Control, Control };
        for (var b = 0; b < 256; b++)
        {
            tokens.Add($"<0x{b:X2}>");
            types.Add(Byte);
        }
        // ChatML's markers as control tokens, so the chat template's structure is tokens, as in a real chat model.
        tokens.AddRange(["<|im_start|>", "<|im_end|>"]);
        types.AddRange([Control, Control]);
        var pieces = new List<string> { "\u2581" };
        pieces.AddRange(Enumerable.Range('a', 26).Select(c => ((char)c).ToString()));
        pieces.AddRange(Enumerable.Range('A', 26).Select(c => ((char)c).ToString()));
        pieces.AddRange(["\u2581the", "\u2581a", "\u2581cat", "\u2581dog", "\u2581sat", "\u2581on", "\u2581mat", "\u2581hello", "\u2581world", "he", "ll", "llo", "or", "ld", "at", "\u2581h", "\u2581w", "\u2581c", "\u2581s"]);
        foreach (var piece in pieces)
        {
            tokens.Add(piece);
            types.Add(Normal);
        }
        // Longer pieces score higher, so merges prefer them.
        var scores = tokens.Select((t, i) => types[i] == Normal ? t.Length - i / 1000f : 0f).ToList();
        return (tokens, scores, types);
    }
}
