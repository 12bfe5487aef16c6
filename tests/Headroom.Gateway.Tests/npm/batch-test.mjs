// The official `openai` npm client's files and batches calls, unchanged, against `headroom up` (argv[2]: base URL,
// argv[3]: API key). Prints one JSON object with what each call returned; the .NET test asserts on it.
import OpenAI, { toFile } from 'openai';

const client = new OpenAI({ baseURL: process.argv[2], apiKey: process.argv[3], maxRetries: 0, timeout: 30000 });
const out = {};
const lines = ['a', 'b', 'c'].map((id) => JSON.stringify({
  custom_id: id, method: 'POST', url: '/v1/embeddings', body: { model: 'all-minilm-l6-v2', input: `text ${id}` },
}));
const file = await client.files.create({ file: await toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
out.file = { id: file.id, object: file.object, purpose: file.purpose, bytes: file.bytes, filename: file.filename };
out.retrievedFile = (await client.files.retrieve(file.id)).id;
out.listedFiles = [];
for await (const f of client.files.list()) out.listedFiles.push(f.id);

let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
out.created = { id: batch.id, object: batch.object, status: batch.status, total: batch.request_counts.total };
const deadline = Date.now() + 90000;
while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 250));
  batch = await client.batches.retrieve(batch.id);
}
out.done = { status: batch.status, counts: batch.request_counts, output_file_id: batch.output_file_id, error_file_id: batch.error_file_id ?? null };
out.listedBatches = [];
for await (const b of client.batches.list()) out.listedBatches.push(b.id);
if (batch.output_file_id) {
  const text = await (await client.files.content(batch.output_file_id)).text();
  out.output = text.trim().split('\n').map((l) => JSON.parse(l)).map((l) => ({
    custom_id: l.custom_id, status: l.response.status_code, dims: l.response.body.data[0].embedding.length,
  }));
}
try { await client.batches.retrieve('batch_missing'); } catch (e) { out.missing = { error: e.constructor.name, status: e.status }; }
out.deleted = await client.files.delete(file.id);
console.log(JSON.stringify(out));
