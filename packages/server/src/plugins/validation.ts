/**
 * Requests are validated by TypeBox's compiler, the same engine as the machine's `parseRunConfig`, so a schema error
 * has one shape wherever it comes from and one translator (`fieldErrorsOf`) turns it into `fields`. TypeBox reports
 * every error of a value (ajv stops at the first unless `allErrors`), which is what lets a 400 list them all.
 *
 * Strict: `Check` never changes the value (no coercion of "5" to 5, no defaults filled in: the machine resolves
 * those, nothing removed), and unknown fields are refused by the schemas themselves.
 *
 * Not `TypeBoxValidatorCompiler` from @fastify/type-provider-typebox: it converts querystring and params values
 * (`Value.Convert`: "5" → 5, a repeated parameter → one value) before checking, and Tether validates strictly, without
 * coercion; it would also bring ajv-formats into the server for string formats no request schema uses.
 */
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

type Validator = ReturnType<typeof Compile<TSchema>>;

/** Compiled once per schema object: the callback and heartbeat routes share their params and query schemas. */
const compiled = new WeakMap<TSchema, Validator>();

export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema }) => {
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = Compile(schema)));
  const validator = check;
  // Errors are computed only for a value that fails, and then all of them: the 400 names every field at once.
  return (value: unknown) => (validator.Check(value) ? { value } : { error: validator.Errors(value) as FastifySchemaValidationError[] });
};
