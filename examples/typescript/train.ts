// A short LoRA training job from TypeScript: the tiny demo server's self-cognition data, two steps,
// one checkpoint. Run a server (`twinkle-server demo --key-file /tmp/key`), then:
//   export TWINKLE_SERVER_URL=http://127.0.0.1:8000 TWINKLE_SERVER_TOKEN=$(cat /tmp/key)
//   (cd clients/typescript && npm ci && npx tsc -p .) && node clients/typescript/dist/examples/typescript/train.js

import { TwinkleClient, UnprocessableEntityError } from "../../clients/typescript/src/index.js";

const MODEL = "ms://Qwen/Qwen2.5-7B-Instruct";

async function main(): Promise<void> {
  const client = new TwinkleClient(); // TWINKLE_SERVER_URL / TWINKLE_SERVER_TOKEN
  const caps = await client.get_server_capabilities();
  console.log(`server API ${caps.api_version}, models: ${caps.models.map((m) => m.model_id).join(", ")}`);

  const session = await client.create_session();
  try {
    const run = await client.create_training_run({
      session_id: session.id,
      base_model: MODEL,
      adapter_name: "default",
      lora_config: { r: 8 }, // every other LoRA field takes the server's default
      gradient_accumulation_steps: 2,
    });
    const runId = run.training_run_id;
    await client.set_template(runId, { template_name: "Template" });
    await client.set_loss(runId, { loss_name: "CrossEntropyLoss" });
    await client.set_optimizer(runId, { optimizer_name: "AdamW", lr: 1e-4 });

    const dataset = await client.create_dataset({ dataset_meta: { dataset_id: "ms://swift/self-cognition", data_slice: { start: 0, stop: 16 } } });
    await client.dataset_set_template(dataset.dataset_id, { template_name: "Template", model_id: MODEL, max_length: 256 });
    await client.dataset_map(dataset.dataset_id, {
      preprocessor: "SelfCognitionProcessor",
      init_args: { model_name: "Twinkle", model_author: "Me" },
    });
    await client.dataset_encode(dataset.dataset_id);
    const loader = await client.create_dataloader({ dataset_id: dataset.dataset_id, batch_size: 4 });

    for (let index = 0; index < 4; index++) {
      const batch = await client.get_dataloader_batch(loader.dataloader_id, index);
      const out = await client.forward_backward(runId, { inputs: batch.rows });
      const stepped = await client.step(runId); // applied on every 2nd micro-batch
      console.log(`batch ${index}: loss ${out.loss.toFixed(4)}, step applied: ${stepped.applied}`);
    }
    const saved = await client.save_checkpoint(runId, { name: "ts-example" });
    console.log(`saved ${saved.twinkle_path}`);
  } catch (err) {
    if (err instanceof UnprocessableEntityError) {
      console.error(`the server refused the input (${err.code}, request ${err.requestId}): ${err.message}`);
    }
    throw err;
  } finally {
    await session.close();
  }
}

await main();
