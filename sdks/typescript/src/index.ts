export { StigmemClient } from "./client.js";
export type { CallOptions, ClientOptions } from "./client.js";
export { StigmemError, StigmemTransportError } from "./errors.js";
export { value } from "./values.js";
export type * from "./types.js";
