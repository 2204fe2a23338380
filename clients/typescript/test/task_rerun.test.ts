// The client against a scripted server (its `fetch` option): a 202 task that failed with
// replica_lost (not applied: its engine replica died) is sent again with the same Idempotency-Key,
// within the retry budget; other task failures are thrown at once.

import assert from "node:assert/strict";
import { test } from "node:test";

import { TaskFailedError, TwinkleClient } from "../src/index.js";

type Fields = Record<string, unknown>;

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function task(taskId: string, status: string, fields: Fields = {}): Fields {
  return {
    task_id: taskId,
    status,
    operation: "step",
    training_run_id: "run_1",
    created_at: "2026-01-01T00:00:00Z",
    finished_at: null,
    result: null,
    error: null,
    http_status: null,
    progress: null,
    ...fields,
  };
}

function failure(code: string): Fields {
  return { error: { code, message: "it failed", details: {}, request_id: "req_task" }, http_status: 503 };
}

/** A server whose n-th POST answers task_n, and whose poll of task_n answers `outcome(n)`. */
function scripted(outcome: (n: number) => Fields) {
  const keys: string[] = [];
  const fetch = async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    if (request.method === "POST") {
      keys.push(request.headers.get("Idempotency-Key") ?? "");
      return json(202, task(`task_${keys.length}`, "pending"));
    }
    const n = Number(new URL(request.url).pathname.split("_").pop());
    return json(200, { ...task(`task_${n}`, "failed"), ...outcome(n) });
  };
  return { keys, fetch };
}

test("a task failed with replica_lost is sent again with the same key and its rerun answers", async () => {
  const server = scripted((n) =>
    n === 1 ? failure("replica_lost") : { status: "succeeded", result: { applied: true, optimizer_step: 1, lr: 0.001 } },
  );
  const client = new TwinkleClient({ baseUrl: "http://twinkle.test", apiKey: "k", fetch: server.fetch });
  const stepped = await client.step("run_1");
  assert.deepEqual(stepped, { applied: true, optimizer_step: 1, lr: 0.001 });
  assert.equal(server.keys.length, 2);
  assert.ok(server.keys[0] && server.keys[0] === server.keys[1]);
});

test("replica_lost tasks are sent again within the retry budget only", async () => {
  const server = scripted(() => failure("replica_lost"));
  const client = new TwinkleClient({ baseUrl: "http://twinkle.test", apiKey: "k", fetch: server.fetch, maxRetries: 1 });
  await assert.rejects(client.step("run_1"), (err) => err instanceof TaskFailedError && err.code === "replica_lost");
  assert.equal(server.keys.length, 2);
});

test("other task failures are thrown without sending the call again", async () => {
  const server = scripted(() => failure("out_of_memory"));
  const client = new TwinkleClient({ baseUrl: "http://twinkle.test", apiKey: "k", fetch: server.fetch });
  await assert.rejects(client.step("run_1"), (err) => err instanceof TaskFailedError && err.code === "out_of_memory");
  assert.equal(server.keys.length, 1);
});
