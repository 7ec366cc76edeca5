/**
 * Request bodies are checked against the TypeBox schema that also documents them. Known read-only
 * fields (a client echoing back what it read) are dropped; any other unknown field is an error.
 * Errors come back as authentik's field → messages body.
 */
import type { Static, TObject, TSchema } from "@sinclair/typebox";
import { Value, ValueErrorType } from "@sinclair/typebox/value";
import { type FieldErrors, validationError } from "../../../shared/errors.ts";
import { registerFormats } from "./formats.ts";

registerFormats();

export function parseBody<T extends TObject>(
  schema: T,
  body: unknown,
  options: { readOnly?: readonly string[]; partial?: boolean } = {},
): Static<T> {
  if (body === null || body === undefined || typeof body !== "object" || Array.isArray(body)) {
    const got = Array.isArray(body) ? "list" : body === undefined || body === "" ? "nothing" : typeof body;
    throw validationError("API0001NotAnObject", {
      non_field_errors: [`Invalid data. Expected a dictionary, but got ${got}.`],
    });
  }
  const input: Record<string, unknown> = {};
  // Keys come from the client: "__proto__" or "toString" must be plain unknown fields, never reach a
  // prototype (a `__proto__` body would hand the input inherited fields no key check sees).
  const fields: FieldErrors = Object.create(null);
  const readOnly = new Set(options.readOnly ?? []);
  for (const [key, value] of Object.entries(body)) {
    if (Object.hasOwn(schema.properties, key)) input[key] = value;
    else if (!readOnly.has(key)) fields[key] = ["Unknown field."];
  }
  const checked: TSchema = options.partial ? { ...schema, required: [] } : schema;
  for (const error of Value.Errors(checked, input)) {
    const field = error.path.split("/")[1] || "non_field_errors";
    if (fields[field]) continue;
    fields[field] = [
      error.type === ValueErrorType.ObjectRequiredProperty
        ? "This field is required."
        : message(error.message),
    ];
  }
  // Value.Errors reports a missing required property at the object's path; name the property instead.
  if (!options.partial) {
    for (const key of schema.required ?? []) {
      if (input[key] === undefined) fields[key] = ["This field is required."];
    }
    delete fields.non_field_errors;
  }
  if (Object.keys(fields).length > 0) throw validationError("API0002InvalidBody", fields);
  return input as Static<T>;
}

function message(text: string): string {
  const m = text.endsWith(".") ? text : `${text}.`;
  return m.charAt(0).toUpperCase() + m.slice(1);
}
