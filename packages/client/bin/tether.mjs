#!/usr/bin/env node
// The `tether` command: loads the TypeScript CLI through tsx (no build step), from wherever it is invoked.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
