import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The repository's own eslint.config.js, on snippets linted as if they lived at the given paths (nothing is written).
const ROOT = resolve(fileURLToPath(import.meta.url), '../../../../..');
const RULE = 'import/no-restricted-paths';

async function restricted(code: string, filePath: string) {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath });
  expect(result!.messages.filter((m) => m.fatal)).toEqual([]);
  return result!.messages.filter((m) => m.ruleId === RULE);
}

describe('no cross-feature imports (eslint.config.js)', () => {
  it('a feature importing from another feature is an error', { timeout: 60_000 }, async () => {
    const found = await restricted(
      "import { RunPage } from '../../run-detail/index.ts';\nexport const page = RunPage;\n",
      'packages/dashboard/src/features/runs/components/x.ts',
    );
    expect(found).toHaveLength(1);
    expect(found[0]!.severity).toBe(2);
    expect(found[0]!.message).toMatch(/Features do not import each other/);
  });

  it('a feature may import from itself and from shared code; the app may import every feature', { timeout: 60_000 }, async () => {
    const ownAndShared = [
      "import { RunFilters } from './RunFilters.tsx';",
      "import { formatClock } from '../../../lib/time.ts';",
      "import { RunStatusBadge } from '../../../components/Badge.tsx';",
      'export const used = [RunFilters, formatClock, RunStatusBadge];',
      '',
    ].join('\n');
    expect(await restricted(ownAndShared, 'packages/dashboard/src/features/runs/components/x.tsx')).toEqual([]);
    const app =
      "import { RunPage } from './features/run-detail/index.ts';\nimport { RunsPage } from './features/runs/index.ts';\nexport const pages = [RunPage, RunsPage];\n";
    expect(await restricted(app, 'packages/dashboard/src/x.tsx')).toEqual([]);
  });
});
