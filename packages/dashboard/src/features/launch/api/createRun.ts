import type { Run, RunConfig } from '@tether/machine/protocol';
import { api } from '../../../lib/http.ts';

export const createRun = (config: RunConfig): Promise<Run> => api<Run>('/api/runs', { method: 'POST', body: config });
