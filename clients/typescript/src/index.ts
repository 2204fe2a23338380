export {
  API_VERSION,
  CLIENT_VERSION_HEADER,
  DEFAULT_BASE_URL,
  IDEMPOTENCY_KEY_HEADER,
  Session,
  TwinkleClient,
  type Body,
  type ClientOptions,
  type Schemas,
} from "./client.js";
export * from "./errors.js";
export type { components, paths } from "../../../generated/typescript/schema.js";
