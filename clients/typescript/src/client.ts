/**
 * TwinkleClient: the generated types (generated/typescript) driven through openapi-fetch, with what
 * a training script needs around them: auth from the environment, retries with backoff and one
 * Idempotency-Key per logical call, 202 + task polling hidden behind a plain awaited call, typed
 * errors, and a session kept alive by heartbeats.
 */

import { randomUUID } from "node:crypto";
import createClient, { type Client } from "openapi-fetch";
import type { Writable } from "openapi-typescript-helpers";

import type { components, paths } from "../../../generated/typescript/schema.js";
import { API_VERSION } from "../../../generated/typescript/version.js";
import {
  APIConnectionError,
  APIStatusError,
  APITimeoutError,
  TaskFailedError,
  TwinkleError,
  makeStatusError,
} from "./errors.js";

export type Schemas = components["schemas"];
/** A request body as openapi-fetch sends it (read-only fields dropped). */
export type Body<Name extends keyof Schemas> = Writable<Schemas[Name]>;
export { API_VERSION };

/** The request header that carries the client's API version (the server refuses incompatible ones). */
export const CLIENT_VERSION_HEADER = "X-Twinkle-Client-Version";
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";
export const DEFAULT_BASE_URL = "http://127.0.0.1:8000";
export const DEFAULT_MAX_RETRIES = 5;
export const DEFAULT_TIMEOUT_MS = 120_000;
/** Seconds one task poll waits on the server (GET /tasks/{id}?wait=S). */
export const TASK_POLL_WAIT_S = 30;
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
/** Error codes of a failed 202 task that mean "not applied, send the call again" (same key). */
const RERUN_TASK_ERRORS = new Set(["replica_lost"]);
const INITIAL_BACKOFF_S = 0.5;
const MAX_BACKOFF_S = 8;

export interface ClientOptions {
  /** Default: TWINKLE_SERVER_URL, else http://127.0.0.1:8000. */
  baseUrl?: string;
  /** Default: TWINKLE_SERVER_TOKEN. */
  apiKey?: string;
  /** Retries after the first attempt on connection errors, 408, 429 (unless it has no
   *  Retry-After: a quota waiting cannot clear) and 5xx. */
  maxRetries?: number;
  /** Per attempt, in milliseconds. */
  timeoutMs?: number;
  /** The fetch implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** What an openapi-fetch call resolves to. */
interface RawResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

type Task = Schemas["Task"];

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/** A 429 without Retry-After: a quota waiting cannot clear (adapters per model), so no retry. */
function isFinal(response: Response): boolean {
  return response.status === 429 && !response.headers.has("retry-after");
}

function backoffSeconds(attempt: number, response?: Response): number {
  const retryAfter = Number(response?.headers.get("retry-after"));
  if (Number.isFinite(retryAfter) && retryAfter > 0) {
    return Math.min(retryAfter, 60);
  }
  const base = Math.min(INITIAL_BACKOFF_S * 2 ** attempt, MAX_BACKOFF_S);
  return base * (0.75 + Math.random() / 2);
}

export class TwinkleClient {
  /** The openapi-fetch client: every operation of openapi.yaml, typed; wrap calls in `send`. */
  readonly raw: Client<paths>;
  readonly baseUrl: string;
  readonly maxRetries: number;
  readonly timeoutMs: number;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? process.env.TWINKLE_SERVER_URL ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    const apiKey = options.apiKey ?? process.env.TWINKLE_SERVER_TOKEN;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const headers: Record<string, string> = { [CLIENT_VERSION_HEADER]: API_VERSION };
    if (apiKey) {
      headers.Authorization = `Bearer ${apiKey}`;
    }
    this.raw = createClient<paths>({
      baseUrl: this.baseUrl,
      headers,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  /**
   * Run one logical call: `attempt` is called once per try with the same Idempotency-Key and a
   * fresh timeout signal. Connection errors, 408, 429 and 5xx are retried with backoff (honouring
   * Retry-After); a 202 task is polled until it finishes, and sent again when it failed with
   * `replica_lost` (not applied); an error status throws its class.
   */
  async send<T>(attempt: (init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<RawResult<T>>): Promise<Exclude<T, Task>> {
    const key = randomUUID();
    for (let reruns = 0; ; reruns++) {
      const result = await this.retrying(() => attempt({ headers: { [IDEMPOTENCY_KEY_HEADER]: key }, signal: AbortSignal.timeout(this.timeoutMs) }));
      if (result.response.status !== 202) {
        return result.data as Exclude<T, Task>;
      }
      try {
        return (await this.waitForTask(result.data as Task)) as Exclude<T, Task>;
      } catch (err) {
        // Not applied (its engine replica died): the same call again, as after a 503.
        const rerun = err instanceof TaskFailedError && RERUN_TASK_ERRORS.has(err.code);
        if (!rerun || reruns >= this.maxRetries) {
          throw err;
        }
        await sleep(backoffSeconds(reruns));
      }
    }
  }

  private async retrying<T>(attempt: () => Promise<RawResult<T>>): Promise<RawResult<T>> {
    for (let tries = 0; ; tries++) {
      let result: RawResult<T>;
      try {
        result = await attempt();
      } catch (err) {
        const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
        if (tries < this.maxRetries) {
          await sleep(backoffSeconds(tries));
          continue;
        }
        const cls = timedOut ? APITimeoutError : APIConnectionError;
        throw new cls(`no answer from ${this.baseUrl}: ${String(err)}`, { cause: err });
      }
      const { response } = result;
      if (response.ok) {
        return result;
      }
      if (RETRY_STATUSES.has(response.status) && !isFinal(response) && tries < this.maxRetries) {
        await sleep(backoffSeconds(tries, response));
        continue;
      }
      throw makeStatusError(response.status, result.error, response.headers.get("x-request-id"));
    }
  }

  /** Long-poll a task until it finishes; its result is the operation's success body. */
  async waitForTask(task: Task): Promise<unknown> {
    let current = task;
    while (current.status === "pending" || current.status === "running") {
      const taskId = current.task_id;
      const polled = await this.retrying(() =>
        this.raw.GET("/api/v1/tasks/{task_id}", {
          params: { path: { task_id: taskId }, query: { wait: TASK_POLL_WAIT_S } },
          signal: AbortSignal.timeout(this.timeoutMs + TASK_POLL_WAIT_S * 1000),
        }),
      );
      current = polled.data as Task;
    }
    if (current.status === "failed") {
      const error = current.error ?? { code: "task_failed", message: "the task failed", details: {}, request_id: "" };
      throw new TaskFailedError(current.http_status ?? 500, error);
    }
    return current.result;
  }

  // -- service ---------------------------------------------------------------------------------

  healthz() {
    return this.send((init) => this.raw.GET("/healthz", init));
  }

  get_server_capabilities() {
    return this.send((init) => this.raw.GET("/api/v1/capabilities", init));
  }

  get_capacity() {
    return this.send((init) => this.raw.GET("/api/v1/capacity", init));
  }

  // -- sessions --------------------------------------------------------------------------------

  /** Open a session and keep it alive with heartbeats until `session.close()`. */
  async create_session(body: Body<"CreateSessionRequest"> = {}): Promise<Session> {
    const info = await this.send((init) => this.raw.POST("/api/v1/sessions", { ...init, body }));
    return new Session(this, info);
  }

  session_heartbeat(session_id: string) {
    const path = { session_id };
    return this.send((init) => this.raw.POST("/api/v1/sessions/{session_id}/heartbeat", { ...init, params: { path }, body: {} }));
  }

  close_session(session_id: string) {
    const path = { session_id };
    return this.send((init) => this.raw.POST("/api/v1/sessions/{session_id}/close", { ...init, params: { path }, body: {} }));
  }

  // -- training runs -------------------------------------------------------------------------

  create_training_run(body: Body<"CreateTrainingRunRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs", { ...init, body }));
  }

  list_training_runs(query: { limit?: number; offset?: number } = {}) {
    return this.send((init) => this.raw.GET("/api/v1/training_runs", { ...init, params: { query } }));
  }

  get_training_run(run_id: string) {
    return this.send((init) => this.raw.GET("/api/v1/training_runs/{run_id}", { ...init, params: { path: { run_id } } }));
  }

  set_template(run_id: string, body: Body<"SetTemplateRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/set_template", { ...init, params: { path: { run_id } }, body }));
  }

  set_loss(run_id: string, body: Body<"SetLossRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/set_loss", { ...init, params: { path: { run_id } }, body }));
  }

  set_optimizer(run_id: string, body: Body<"SetOptimizerRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/set_optimizer", { ...init, params: { path: { run_id } }, body }));
  }

  forward_backward(run_id: string, body: Body<"ForwardRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/forward_backward", { ...init, params: { path: { run_id } }, body }));
  }

  clip_grad_norm(run_id: string, body: Body<"ClipGradNormRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/clip_grad_norm", { ...init, params: { path: { run_id } }, body }));
  }

  step(run_id: string) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/step", { ...init, params: { path: { run_id } }, body: {} }));
  }

  zero_grad(run_id: string) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/zero_grad", { ...init, params: { path: { run_id } }, body: {} }));
  }

  /**
   * Several calls of the run in one request (one round trip for a micro-batch), applied in order
   * up to the first that fails: its outcome is `failed` (with `error` and `http_status`), the later
   * ones `skipped`, not applied. The answer lists every outcome; it does not throw for a failed call.
   */
  run_calls(run_id: string, body: Body<"RunCallsRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/calls", { ...init, params: { path: { run_id } }, body }));
  }

  /**
   * Sample the run's current adapter, or (`model_path`) one of your checkpoints, in the run's
   * order; `logprobs` and `prompt_logprobs` add the sampled and the prompt tokens' log-probabilities.
   */
  sample(run_id: string, body: Body<"SampleRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/sample", { ...init, params: { path: { run_id } }, body }));
  }

  get_train_configs(run_id: string) {
    return this.send((init) => this.raw.GET("/api/v1/training_runs/{run_id}/train_configs", { ...init, params: { path: { run_id } } }));
  }

  // -- checkpoints -----------------------------------------------------------------------------

  save_checkpoint(run_id: string, body: Body<"SaveCheckpointRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/training_runs/{run_id}/checkpoints", { ...init, params: { path: { run_id } }, body }));
  }

  list_checkpoints(run_id: string, query: { limit?: number; offset?: number } = {}) {
    return this.send((init) => this.raw.GET("/api/v1/training_runs/{run_id}/checkpoints", { ...init, params: { path: { run_id }, query } }));
  }

  /** The checkpoint as a gzip-compressed tar archive (a PEFT folder). */
  async download_checkpoint(run_id: string, checkpoint_id: string): Promise<Uint8Array> {
    const path = { run_id, checkpoint_id };
    const data = await this.send((init) =>
      this.raw.GET("/api/v1/training_runs/{run_id}/checkpoints/{checkpoint_id}/archive", { ...init, params: { path }, parseAs: "arrayBuffer" }),
    );
    return new Uint8Array(data);
  }

  // -- sampling --------------------------------------------------------------------------------

  /**
   * Sample a checkpoint of yours (`model_path`), a run's current adapter (`training_run_id`) or the
   * base model alone (`base_model`). Streaming (`sample_stream`, server-sent events) is left to
   * `raw`: its answer is an event stream, not JSON.
   */
  sample_model(body: Body<"ModelSampleRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/sample", { ...init, body }));
  }

  // -- data ------------------------------------------------------------------------------------

  create_dataset(body: Body<"CreateDatasetRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/datasets", { ...init, body }));
  }

  get_dataset(dataset_id: string) {
    return this.send((init) => this.raw.GET("/api/v1/datasets/{dataset_id}", { ...init, params: { path: { dataset_id } } }));
  }

  dataset_set_template(dataset_id: string, body: Body<"SetTemplateRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/datasets/{dataset_id}/template", { ...init, params: { path: { dataset_id } }, body }));
  }

  dataset_map(dataset_id: string, body: Body<"DatasetMapRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/datasets/{dataset_id}/map", { ...init, params: { path: { dataset_id } }, body }));
  }

  dataset_encode(dataset_id: string, body: Body<"DatasetEncodeRequest"> = {}) {
    return this.send((init) => this.raw.POST("/api/v1/datasets/{dataset_id}/encode", { ...init, params: { path: { dataset_id } }, body }));
  }

  create_dataloader(body: Body<"CreateDataLoaderRequest">) {
    return this.send((init) => this.raw.POST("/api/v1/dataloaders", { ...init, body }));
  }

  get_dataloader_batch(dataloader_id: string, index: number) {
    const path = { dataloader_id, index };
    return this.send((init) => this.raw.GET("/api/v1/dataloaders/{dataloader_id}/batches/{index}", { ...init, params: { path } }));
  }
}

/** An open session; heartbeats every `heartbeat_interval_s / 2` until closed. */
export class Session {
  readonly id: string;
  /** The session as the server last described it (updated by each heartbeat). */
  info: Schemas["Session"];
  private readonly client: TwinkleClient;
  private timer: NodeJS.Timeout | undefined;
  /** The last heartbeat error, if any (heartbeats retry on their own; the session may expire). */
  lastHeartbeatError: TwinkleError | undefined;

  constructor(client: TwinkleClient, info: Schemas["Session"]) {
    this.client = client;
    this.info = info;
    this.id = info.session_id;
    const everyMs = Math.max(info.heartbeat_interval_s * 500, 100);
    this.timer = setInterval(() => void this.heartbeat(), everyMs);
    this.timer.unref();
  }

  async heartbeat(): Promise<void> {
    try {
      this.info = await this.client.session_heartbeat(this.id);
      this.lastHeartbeatError = undefined;
    } catch (err) {
      this.lastHeartbeatError = err instanceof TwinkleError ? err : new TwinkleError(String(err), { cause: err });
    }
  }

  /** Stop the heartbeats and close the session (frees its adapters; runs and checkpoints stay). */
  async close(): Promise<void> {
    if (this.timer === undefined) {
      return;
    }
    clearInterval(this.timer);
    this.timer = undefined;
    await this.client.close_session(this.id);
  }
}

