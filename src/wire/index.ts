/**
 * The one runtime-neutral module of wire types and zod schemas shared by the server, the agent, the CLI
 * and the browser UI. Nothing here imports Node APIs.
 */
export * from './cluster.js';
export * from './task.js';
export * from './task-args.js';
export * from './task-result.js';
export * from './agent.js';
export * from './api.js';
export * from './config.js';
export * from './progress.js';
export * from './volume.js';
export * from './controllers.js';
export { parseAt } from './parse.js';
