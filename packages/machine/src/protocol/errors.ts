/** The one error shape of the API: `{ error: { code, message, fields? } }`. */
import Type, { type Static } from 'typebox';

/** One field a request gets wrong. */
export const ErrorField = Type.Object(
  {
    path: Type.String({
      description: 'Dotted path of the field: `backoff.maxSeconds`, `target.headers.X-Foo`, `query.limit`; `(body)` for the body as a whole.',
    }),
    message: Type.String({ description: 'The rule it breaks, e.g. `must be >= 1`, `is required`, `is not a known field`.' }),
  },
  { $id: 'ErrorField', description: 'One field a request gets wrong.' },
);
export type ErrorField = Static<typeof ErrorField>;

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable code, e.g. TETHER_RUN_NOT_FOUND.' }),
      message: Type.String({ description: 'Readable summary; names the first field, or the rule.' }),
      fields: Type.Optional(
        Type.Array(ErrorField, {
          description:
            'Every field the request gets wrong, all at once (schema and semantic checks together), in the order `message` names them. Present on errors about fields.',
        }),
      ),
    }),
  },
  { $id: 'ErrorBody', description: 'The one error shape of the API.' },
);
export type ErrorBody = Static<typeof ErrorBody>;
