// End to end against a real Twinkle server on the tiny model (node's test runner). The server's
// address and an API key come from TWINKLE_SERVER_URL and TWINKLE_SERVER_TOKEN, as for a user;
// tests/e2e/test_typescript_client.py starts the server and runs this file.

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { after, before, test } from "node:test";

import {
  API_VERSION,
  AuthenticationError,
  NotFoundError,
  RateLimitError,
  Session,
  TwinkleClient,
  UnprocessableEntityError,
  type Schemas,
} from "../src/index.js";

const MODEL = "ms://Qwen/Qwen2.5-7B-Instruct";
const DATASET = "ms://swift/self-cognition";

let client: TwinkleClient;
let session: Session;
let runId = "";
let batch: Schemas["ForwardRequest"]["inputs"] = [];

before(async () => {
  assert.ok(process.env.TWINKLE_SERVER_URL && process.env.TWINKLE_SERVER_TOKEN, "set TWINKLE_SERVER_URL/TOKEN");
  client = new TwinkleClient();
  session = await client.create_session({ metadata: { client: "typescript-e2e" } });
});

after(async () => {
  await session?.close();
});

test("capabilities report the API version this client was generated from", async () => {
  const caps = await client.get_server_capabilities();
  assert.equal(caps.api_version, API_VERSION);
  assert.ok(caps.models.length >= 1);
});

test("a session heartbeats on its own and stays active", async () => {
  const opened = Date.parse(session.info.last_heartbeat_at);
  // The timer beats every heartbeat_interval_s / 2; wait for one beat past that.
  await new Promise((resolve) => setTimeout(resolve, session.info.heartbeat_interval_s * 500 + 1500));
  assert.equal(session.lastHeartbeatError, undefined);
  assert.equal(session.info.status, "active");
  assert.ok(Date.parse(session.info.last_heartbeat_at) > opened, "a heartbeat reached the server");
});

test("create a run (LoRA defaults left out) and find it in the list", async () => {
  const run = await client.create_training_run({
    session_id: session.id,
    base_model: MODEL,
    adapter_name: "default",
    lora_config: { r: 4 },
    seed: 0,
  });
  runId = run.training_run_id;
  assert.equal(run.lora_config.target_modules, "all-linear");
  const page = await client.list_training_runs({ limit: 50 });
  assert.ok(page.training_runs.some((r) => r.training_run_id === runId));
  assert.ok(page.cursor.total_count >= 1);
  await client.set_template(runId, { template_name: "Template" });
  await client.set_loss(runId, { loss_name: "CrossEntropyLoss" });
  await client.set_optimizer(runId, { optimizer_name: "AdamW", lr: 1e-3 });
});

test("build a dataset (template, map, encode) and fetch a dataloader batch", async () => {
  const ds = await client.create_dataset({ dataset_meta: { dataset_id: DATASET, data_slice: { start: 0, stop: 8 } } });
  await client.dataset_set_template(ds.dataset_id, { template_name: "Template", model_id: MODEL, max_length: 128 });
  await client.dataset_map(ds.dataset_id, {
    preprocessor: "SelfCognitionProcessor",
    init_args: { model_name: "Twinkle", model_author: "TypeScript" },
  });
  await client.dataset_encode(ds.dataset_id);
  const info = await client.get_dataset(ds.dataset_id);
  assert.equal(info.length, 8);
  assert.ok(info.columns.includes("input_ids"));
  const loader = await client.create_dataloader({ dataset_id: ds.dataset_id, batch_size: 4 });
  const got = await client.get_dataloader_batch(loader.dataloader_id, 0);
  assert.equal(got.rows.length, 4);
  batch = got.rows;
});

test("forward_backward, step, save; list and download the checkpoint", async () => {
  const fb = await client.forward_backward(runId, { inputs: batch });
  assert.ok(Number.isFinite(fb.loss) && fb.num_tokens > 0);
  const stepped = await client.step(runId);
  assert.equal(stepped.applied, true);
  assert.equal(stepped.optimizer_step, 1);
  const saved = await client.save_checkpoint(runId, { name: "ts-e2e" });
  assert.equal(saved.twinkle_path, `twinkle://${runId}/weights/ts-e2e`);
  const page = await client.list_checkpoints(runId);
  const listed = page.checkpoints.find((c) => c.checkpoint_id === saved.checkpoint_id);
  assert.ok(listed, "the saved checkpoint is listed");
  const archive = await client.download_checkpoint(runId, saved.checkpoint_id);
  const tar = gunzipSync(archive).toString("latin1");
  assert.ok(tar.includes("adapter_config.json") && tar.includes("adapter_model.safetensors"));
});

test("sample the saved checkpoint by path, from the run and from the sampler, alike", async () => {
  const model_path = `twinkle://${runId}/weights/ts-e2e`;
  const request = { prompts: [{ input_ids: [5, 17, 33, 2, 9] }], num_samples: 2, max_tokens: 4, seed: 7 };
  const fromSampler = await client.sample_model({ ...request, model_path, logprobs: true, prompt_logprobs: true });
  assert.equal(fromSampler.sequences.length, 2);
  for (const sequence of fromSampler.sequences) {
    assert.ok(sequence.tokens.length >= 1 && sequence.tokens.length <= 4);
    assert.equal(sequence.logprobs?.length, sequence.tokens.length);
  }
  const scores = fromSampler.prompt_logprobs?.[0];
  assert.equal(scores?.length, 5);
  assert.equal(scores?.[0], null);
  assert.ok(scores?.slice(1).every((x) => typeof x === "number" && x <= 0));
  const fromRun = await client.sample(runId, { ...request, model_path });
  assert.deepEqual(
    fromRun.sequences.map((s) => s.tokens),
    fromSampler.sequences.map((s) => s.tokens),
  );
  await assert.rejects(client.sample_model({ ...request, model_path: `twinkle://${runId}/weights/none` }), NotFoundError);
});

test("run_calls: a micro-batch in one request, stopped at the first failure", async () => {
  const before = (await client.get_train_configs(runId)).optimizer_step;
  const done = await client.run_calls(runId, {
    calls: [{ op: "forward_backward", body: { inputs: batch } }, { op: "step" }, { op: "zero_grad" }],
  });
  assert.deepEqual(done.results.map((r) => r.status), ["succeeded", "succeeded", "succeeded"]);
  assert.equal(done.results[1]?.result?.optimizer_step, before + 1);
  // backward with no forward waiting for it fails; the step after it is not applied.
  const stopped = await client.run_calls(runId, { calls: [{ op: "backward" }, { op: "step" }] });
  assert.deepEqual(stopped.results.map((r) => r.status), ["failed", "skipped"]);
  const failed = stopped.results[0];
  assert.ok(failed && (failed.http_status ?? 0) >= 400 && failed.error?.message);
  assert.equal((await client.get_train_configs(runId)).optimizer_step, before + 1);
});

test("a step whose answer is lost is retried with the same key and applied once", async () => {
  let dropped = 0;
  const keys: string[] = [];
  // The request reaches the real server; only its answer is thrown away, once.
  const lossy: typeof fetch = async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    keys.push(request.headers.get("idempotency-key") ?? "");
    const response = await fetch(request);
    if (request.url.endsWith("/step") && dropped === 0) {
      dropped += 1;
      throw new TypeError("connection reset after the request was sent");
    }
    return response;
  };
  const flaky = new TwinkleClient({ fetch: lossy });
  await client.forward_backward(runId, { inputs: batch });
  const before = (await client.get_train_configs(runId)).optimizer_step;
  const stepped = await flaky.step(runId);
  assert.equal(dropped, 1);
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], "one Idempotency-Key across the retry");
  // The retry got the first attempt's answer; a second execution would answer applied: false.
  assert.equal(stepped.applied, true);
  assert.equal(stepped.optimizer_step, before + 1);
  assert.equal((await client.get_train_configs(runId)).optimizer_step, before + 1, "applied once");
});

test("errors are typed and carry the server's code, message and request id", async () => {
  await assert.rejects(client.get_training_run("run_doesnotexist"), (err: unknown) => {
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.status, 404);
    assert.equal(err.code, "not_found");
    assert.ok(err.message.length > 0 && err.requestId.length > 0);
    return true;
  });
  const anonymous = new TwinkleClient({ apiKey: "tw-not-a-key" });
  await assert.rejects(anonymous.list_training_runs(), AuthenticationError);
  await assert.rejects(client.create_dataloader({ dataset_id: "ds_x", batch_size: 0 }), UnprocessableEntityError);
});

/** A fetch answering every call with a 429 (with or without Retry-After), counting the calls. */
function answer429(retryAfter: string | null): { fetch: typeof fetch; calls: () => number } {
  let calls = 0;
  const reply: typeof fetch = async () => {
    calls += 1;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (retryAfter !== null) headers["retry-after"] = retryAfter;
    const error = { code: "quota_exceeded", message: "quota", request_id: "r1" };
    return new Response(JSON.stringify({ error }), { status: 429, headers });
  };
  return { fetch: reply, calls: () => calls };
}

test("a 429 without Retry-After is final; one with Retry-After is retried", async () => {
  // The server answers the adapters quota (max_runs_per_user) without Retry-After: only closing a
  // session frees one, so waiting cannot help (tests/unit/client/test_final_quota.py pins the
  // server's side). The client's rule is checked here on both kinds of answer.
  const final = answer429(null);
  await assert.rejects(new TwinkleClient({ fetch: final.fetch }).list_training_runs(), RateLimitError);
  assert.equal(final.calls(), 1, "not retried");
  const waits = answer429("1");
  const patient = new TwinkleClient({ fetch: waits.fetch, maxRetries: 1 });
  await assert.rejects(patient.list_training_runs(), RateLimitError);
  assert.equal(waits.calls(), 2, "retried once");
});
