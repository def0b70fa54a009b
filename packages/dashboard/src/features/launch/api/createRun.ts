import type { Run, RunConfig } from '@tether/machine/protocol';
import { runsApi } from '../../../lib/tether.ts';

export const createRun = (config: RunConfig): Promise<Run> => runsApi((runs) => runs.create(config));
