// The official `openai` npm client, unchanged, against a Headroom gateway base URL (argv[2]).
// Prints one JSON object with what each call returned; the .NET test asserts on it.
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.argv[2], apiKey: 'sk-test', maxRetries: 0, timeout: 20000 });
const out = {};
const attempt = async (name, fn) => {
  try { out[name] = await fn(); } catch (e) { out[name] = { error: e.constructor.name, status: e.status ?? null, code: e.code ?? null, param: e.param ?? null }; }
};

await attempt('models', async () => (await client.models.list()).data.map((m) => m.id));
await attempt('chat', async () => {
  const r = await client.chat.completions.create({ model: 'upstream-chat', messages: [{ role: 'user', content: 'hi' }] });
  return { content: r.choices[0].message.content, usage: r.usage };
});
await attempt('llama', async () => {
  const r = await client.chat.completions.create({ model: 'tiny-llama', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 4, seed: 1 });
  return { finish: r.choices[0].finish_reason, usage: r.usage };
});
await attempt('stream', async () => {
  const s = await client.chat.completions.create({ model: 'tiny-llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
  let text = '', usage = null, chunks = 0;
  for await (const ch of s) { chunks++; text += ch.choices[0]?.delta?.content ?? ''; if (ch.usage) usage = ch.usage; }
  return { chunks, text, usage };
});
await attempt('embeddings', async () => {
  // The client asks for base64 and decodes it to floats itself.
  const e = await client.embeddings.create({ model: 'all-minilm-l6-v2', input: ['The cat sits on the mat.', 'A kitten is resting on a rug.', 'Quarterly revenue grew by eight percent.'] });
  return { vectors: e.data.map((d) => d.embedding), usage: e.usage };
});
await attempt('embeddingsFloat', async () => {
  const e = await client.embeddings.create({ model: 'all-minilm-l6-v2', input: 'The cat sits on the mat.', encoding_format: 'float' });
  return { vector: e.data[0].embedding };
});
await attempt('completions', async () => (await client.completions.create({ model: 'upstream-chat', prompt: 'x', max_tokens: 1 })).choices[0].text);
await attempt('notFound', async () => client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }));
await attempt('badRequest', async () => client.chat.completions.create({ model: 'tiny-llama', messages: [{ role: 'user', content: 'hi' }], n: 2 }));
await attempt('toolsRefused', async () => client.chat.completions.create({ model: 'tiny-llama', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }] }));
for (const status of [401, 403, 409, 422, 429]) {
  const refused = new OpenAI({ baseURL: process.argv[2], apiKey: `sk-refuse-${status}`, maxRetries: 0 });
  await attempt(`refused${status}`, async () => refused.chat.completions.create({ model: 'upstream-chat', messages: [{ role: 'user', content: 'hi' }] }));
}
await attempt('unavailable', async () => client.chat.completions.create({ model: 'dead', messages: [{ role: 'user', content: 'hi' }] }));

console.log(JSON.stringify(out));
