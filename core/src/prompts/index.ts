/** /api/v3/stages/prompt/prompts/ */
import { crudRoutes } from "../api/crud.ts";
import type { CoreContext } from "../context.ts";
import { PROMPT_READ_ONLY, PromptRequest } from "./model.ts";
import {
  createPrompt,
  deletePrompt,
  getPrompt,
  listPrompts,
  serializePrompt,
  updatePrompt,
} from "./service.ts";

export function promptsController(ctx: CoreContext) {
  return crudRoutes(ctx, {
    prefix: "/stages/prompt/prompts",
    tag: "stages",
    operation: "stages_prompt_prompts",
    schema: PromptRequest,
    readOnly: PROMPT_READ_ONLY,
    list: listPrompts,
    get: getPrompt,
    create: (db, input) => createPrompt(db, input),
    update: updatePrompt,
    remove: deletePrompt,
    serialize: (_db, row) => serializePrompt(row),
    model: (row) => ({ name: "prompt", pk: row.prompt_uuid, label: row.name }),
  });
}
