/**
 * The little of `oidc-provider` (which ships no types) that the `oauth2` suite's anchor uses: the
 * provider, its Grant and AuthorizationCode models for minting codes, and the in-memory adapter's store.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  interface Saved {
    save(): Promise<string>;
  }
  interface GrantModel extends Saved {
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    Client: { find(id: string): Promise<object | undefined> };
    Grant: new (fields: {
      accountId: string;
      clientId: string;
    }) => GrantModel;
    AuthorizationCode: new (
      fields: Record<string, unknown>,
    ) => Saved;
  }
}

declare module "oidc-provider/lib/helpers/lru.js" {
  export default class LRU {
    constructor(options: { maxSize: number });
  }
}

declare module "oidc-provider/lib/adapters/memory_adapter.js" {
  import type LRU from "oidc-provider/lib/helpers/lru.js";
  export default class MemoryAdapter {
    constructor(model: string, store: LRU, clockTolerance: number);
  }
}
