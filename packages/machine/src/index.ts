export * from './schemas.ts';
export * from './status.ts';
export * from './config.ts';
export * from './retry.ts';
export * from './machine.ts';
export * from './view.ts';
export * from './graph.ts';
