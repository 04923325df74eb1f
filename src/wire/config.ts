/**
 * The rig configuration file read by `blockrig server`, `blockrig agent` and `blockrig cluster up`: the
 * servers (each a domain server that knows both), the clusters (devices, data folder at the cluster),
 * users, the shared cluster secret and the timing. One file describes the whole rig, so every process
 * agrees on who exists. Runtime-neutral; loading the file is in `src/cluster/config-file.ts`.
 */
import { z } from 'zod';
import { DeviceConfigSchema, IdSchema } from './cluster.js';

/** Where a server listens; loopback unless configured otherwise. */
export const ListenSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  /** 0 picks a free port; the bound address is written to `addressFile` and printed. */
  port: z.number().int().min(0).max(65_535).default(0),
});

/** One configured server. Agents find it by `url`, or by reading `addressFile` (re-read on reconnect). */
export const ServerConfigSchema = z
  .strictObject({
    id: IdSchema,
    /** The cluster (host) this server runs on, for display and for the failover story. */
    cluster: IdSchema.optional(),
    listen: ListenSchema.default({ host: '127.0.0.1', port: 0 }),
    url: z.url().optional(),
    addressFile: z.string().optional(),
    /** The server's own folder (its event journal); default `server-ID` next to the rig configuration. */
    dataDir: z.string().min(1).optional(),
  })
  .refine((s) => s.url !== undefined || s.addressFile !== undefined, {
    message: 'give the server a "url" or an "addressFile" so agents can find it',
    path: ['url'],
  });
/** One configured server. */
export type ServerConfig = z.infer<typeof ServerConfigSchema>;

/** One configured cluster. */
export const ClusterConfigSchema = z.strictObject({
  id: IdSchema,
  /** Folder at the cluster holding its persistent data (SQLite store, driver outputs, agent sockets). */
  dataDir: z.string().min(1),
  devices: z.array(DeviceConfigSchema),
  /** Metadata region URI for partitioned tasks (issue 4's `--meta`). */
  meta: z.string().optional(),
  /** Metadata device holding the cluster's volume table (`blockrig volume ... --meta`); agents read it. Default: `meta`. */
  volumes: z.string().optional(),
  /** Controller processes `cluster up` starts on the metadata region. */
  controllers: z.number().int().min(0).max(64).default(0),
  /**
   * The driver process's command line. `{kind}`, `{meta}`, `{task}` and `{cli}` are replaced; the task's
   * arguments are appended as `--name value`. Default: `blockrig driver run {kind} --meta {meta} --json`
   * (plus `--run-partitions` when `controllers` is 0), which runs the task on the metadata region.
   */
  driverCommand: z.array(z.string()).min(1).optional(),
});
/** One configured cluster. */
export type ClusterConfig = z.infer<typeof ClusterConfigSchema>;

/** An API user. The password is a secret: never logged, never printed. */
export const UserConfigSchema = z.strictObject({ name: z.string().min(1), password: z.string().min(8) });

/** Timing of heartbeats, expiry, probing and retries, in milliseconds; tests shorten them. */
export const TimingSchema = z.strictObject({
  heartbeatMs: z.number().int().positive().default(1000),
  /** An agent that has not heartbeaten for this long is expired by its server. */
  agentExpiryMs: z.number().int().positive().default(5000),
  probeMs: z.number().int().positive().default(1000),
  /** Fallback read of the store for changes whose broadcast was missed. */
  storePollMs: z.number().int().positive().default(1000),
  retryMs: z.number().int().positive().default(500),
  /** An agent of the cluster whose store heartbeat is older than this is dead; its tasks are taken over. */
  takeoverMs: z.number().int().positive().default(3000),
  sessionTtlMs: z.number().int().positive().default(12 * 3600 * 1000),
});
/** Timing parameters. */
export type Timing = z.infer<typeof TimingSchema>;

/** The whole rig configuration file. */
export const RigConfigSchema = z
  .strictObject({
    /** Shared cluster secret agents sign registrations with (at least 16 characters). */
    secret: z.string().min(16).optional(),
    /** A file holding the secret instead of `secret` (first line). */
    secretFile: z.string().optional(),
    servers: z.array(ServerConfigSchema).max(16),
    clusters: z.array(ClusterConfigSchema).min(1),
    users: z.array(UserConfigSchema).default([]),
    timing: TimingSchema.default(TimingSchema.parse({})),
  })
  .refine((c) => c.secret !== undefined || c.secretFile !== undefined, { message: 'give "secret" or "secretFile"', path: ['secret'] });
/** The rig configuration file. */
export type RigConfig = z.infer<typeof RigConfigSchema>;
