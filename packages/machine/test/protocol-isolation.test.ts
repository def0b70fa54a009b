/// <reference types="node" />
/**
 * `@tether/machine/protocol` is the wire contract alone: a consumer that needs only data (the dashboard's pages, an
 * external system's tests) must not load the statechart. Checked twice: statically (every import under src/protocol is
 * typebox or a sibling in protocol/), and at runtime (a fresh Node process that refuses to resolve xstate imports it),
 * with a control that the runtime check does catch a graph that reaches xstate.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, '..');
const protocolDir = join(pkg, 'src', 'protocol');

/** Every module specifier a file imports or re-exports, static or dynamic. */
function specifiersOf(source: string): string[] {
  const found: string[] = [];
  for (const re of [
    /\b(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bimport\s+['"]([^'"]+)['"]/g,
  ])
    for (const m of source.matchAll(re)) found.push(m[1]!);
  return found;
}

describe('@tether/machine/protocol', () => {
  const files = readdirSync(protocolDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));

  it('is exported as a subpath pointing at src/protocol/index.ts', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { exports: Record<string, string> };
    expect(manifest.exports['./protocol']).toBe('./src/protocol/index.ts');
    expect(files).toContain('index.ts');
  });

  it.each(files)('%s imports only typebox and siblings inside protocol/', (file) => {
    const source = readFileSync(join(protocolDir, file), 'utf8');
    const specifiers = specifiersOf(source);
    for (const s of specifiers) {
      if (s === 'typebox' || s.startsWith('typebox/')) continue;
      expect(s.startsWith('./') || s.startsWith('../'), `${file}: ${s} is a package other than typebox`).toBe(true);
      const target = relative(protocolDir, resolve(dirname(join(protocolDir, file)), s));
      expect(target.startsWith('..'), `${file}: ${s} leaves protocol/`).toBe(false);
    }
  });

  // A resolve hook that throws on any import of xstate, registered in a fresh process after tsx (hooks run last
  // registered first, so it sees each specifier as written).
  const HOOKS = `export async function resolve(specifier, context, next) {
    if (specifier === 'xstate' || specifier.startsWith('xstate/')) throw new Error('XSTATE_LOADED by ' + context.parentURL);
    return next(specifier, context);
  }`;
  const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;
  /** Imports `entry` in a new Node process that refuses xstate; returns what it printed, or the error it died of. */
  const importAlone = (entry: string): { ok: boolean; output: string } => {
    const url = pathToFileURL(join(pkg, entry)).href;
    try {
      const output = execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--import',
          `data:text/javascript,${encodeURIComponent(REGISTER)}`,
          '--input-type=module',
          '--eval',
          `const m = await import(${JSON.stringify(url)}); console.log('exports', Object.keys(m).length);`,
        ],
        { cwd: pkg, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
      );
      return { ok: true, output };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? err.message}` };
    }
  };

  it('loads in a process where importing xstate throws', { timeout: 60_000 }, () => {
    const alone = importAlone('src/protocol/index.ts');
    expect(alone.ok, alone.output).toBe(true);
    expect(alone.output).toMatch(/^exports [1-9]\d*$/m);
  });

  it('control: the same process refuses the package root, which does load xstate', { timeout: 60_000 }, () => {
    const root = importAlone('src/index.ts');
    expect(root.ok).toBe(false);
    expect(root.output).toContain('XSTATE_LOADED');
  });
});
