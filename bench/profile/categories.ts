/**
 * What a profile frame's time is spent on: node:http's parser and writer, sockets, streams,
 * timers, GC, or one of Portico's own modules. A native frame (no url: writev, connect, a
 * Buffer builtin) gets no category of its own; the summariser files it under its nearest
 * JavaScript caller's, prefixed `native <- `, so a writev called from node:net shows as a
 * socket syscall rather than as "native".
 */

export const NATIVE_PREFIX = 'native <- ';

/** node's internal modules by url prefix, first match wins. */
const NODE_MODULES: readonly (readonly [string, string])[] = [
  ['node:_http_', 'node:http'],
  ['node:http', 'node:http'],
  ['node:internal/http', 'node:http'],
  ['node:net', 'node:net'],
  ['node:internal/net', 'node:net'],
  ['node:internal/stream_base_commons', 'node:net'],
  ['node:dns', 'node:net'],
  ['node:internal/dns', 'node:net'],
  ['node:stream', 'node:streams'],
  ['node:internal/streams', 'node:streams'],
  ['node:events', 'node:events'],
  ['node:internal/event_target', 'node:events'],
  ['node:internal/abort_controller', 'node:events'],
  ['node:internal/events', 'node:events'],
  ['node:timers', 'node:timers'],
  ['node:internal/timers', 'node:timers'],
  ['node:internal/process/task_queues', 'node:microtasks'],
  ['node:internal/process/promises', 'node:microtasks'],
  ['node:internal/async_hooks', 'node:microtasks'],
  ['node:crypto', 'node:crypto'],
  ['node:internal/crypto', 'node:crypto'],
  ['node:buffer', 'node:buffer'],
  ['node:internal/buffer', 'node:buffer'],
  ['node:internal/modules', 'node:startup'],
  ['node:internal/main', 'node:startup'],
  ['node:internal/bootstrap', 'node:startup'],
];

const SPECIAL: Readonly<Record<string, string>> = {
  '(garbage collector)': 'GC',
  '(idle)': 'idle',
  '(program)': 'program (native outside JS: libuv, syscalls, compiler)',
  '(root)': 'root',
};

/**
 * The category of a frame from its function name and short file (`src/cgi/env.ts`,
 * `node:net`, '' for native); undefined for a native frame (the caller decides).
 */
export function categoryOf(functionName: string, file: string): string | undefined {
  if (file === '') return SPECIAL[functionName];
  if (file.startsWith('src/')) {
    const slash = file.indexOf('/', 4);
    return `ours: ${slash === -1 ? file : file.slice(0, slash)}`;
  }
  if (file.startsWith('node:')) {
    for (const [prefix, category] of NODE_MODULES) if (file.startsWith(prefix)) return category;
    return 'node:other';
  }
  if (file.includes('/node_modules/')) return 'dependencies';
  return 'other';
}
