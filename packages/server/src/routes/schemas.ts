/**
 * The path parameters of the runs API: only the router reads them. Every body, query and answer is a wire shape and
 * lives in `@tether/machine/protocol`.
 */
import Type from 'typebox';

export const RunIdParams = Type.Object({
  id: Type.String({ pattern: '^run_[A-Za-z0-9_-]{1,64}$', description: 'Run id.' }),
});
export const AttemptParams = Type.Object({
  id: Type.String({ pattern: '^run_[A-Za-z0-9_-]{1,64}$' }),
  attemptId: Type.String({ pattern: '^att_[A-Za-z0-9_-]{1,80}$' }),
});
