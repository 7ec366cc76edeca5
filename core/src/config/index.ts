import { type Loaded, type LoadOptions, loadConfig } from "../../../shared/config/load.ts";
import type { ConfigValues } from "../../../shared/config/schema.ts";
import { CORE_KNOWN_ENV, type CoreConfigSchema, coreConfigSchema } from "./schema.ts";

export type CoreConfig = ConfigValues<CoreConfigSchema>;

export function loadCoreConfig(options: LoadOptions = {}): Loaded<CoreConfigSchema> {
  return loadConfig(coreConfigSchema, {
    ...options,
    knownEnv: [...CORE_KNOWN_ENV, ...(options.knownEnv ?? [])],
  });
}

/** Defaults with overrides, for tests and tools that build a core without an environment. */
export function testConfig(overrides: Partial<CoreConfig> = {}): CoreConfig {
  const { values } = loadConfig(coreConfigSchema, { env: {} });
  return { ...values, ...overrides };
}

export { coreConfigSchema };
