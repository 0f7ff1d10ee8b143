/**
 * What a backend's response head decides for the body the client responder then writes: the
 * byte range to send (upstream-range.ts), whether it is buffered (X-Accel-Buffering), its pace
 * (limit_rate, X-Accel-Limit-Rate), a charset (X-Accel-Charset), and the nginx store file. Each
 * runs once per response, on the head.
 */
import type { ServerResponse } from 'node:http';
import type { ResponseQueueOptions } from '../buffering/response-queue.ts';
import { ResponseStore } from '../buffering/response-store.ts';
import type { CgiResponseHead } from '../cgi/response-head.ts';
import type { Logger } from '../observability/logger.ts';
import { parseLimitRate } from './rate-limit.ts';
import { planUpstreamRange, type RangeRequest } from './upstream-range.ts';

/** The part of the responder's context these decisions read. */
export interface PlanContext {
  readonly requestId: string;
  readonly backend: string;
  readonly method: string;
  readonly log: Logger;
  readonly limitRate?: number | undefined;
  readonly xAccelLimitRate?: boolean | undefined;
  readonly xAccelCharset?: boolean | undefined;
  readonly buffering?: ResponseQueueOptions | undefined;
  readonly bufferingOn?: boolean | undefined;
  readonly xAccelBuffering?: boolean | undefined;
  readonly range?: RangeRequest | undefined;
  readonly forceRanges?: boolean | undefined;
  readonly store?: { readonly path: string; readonly mode: number } | undefined;
}

/** The status to send, and what of the backend's body goes to the client. */
export interface RangeOutcome {
  readonly status: number;
  /** false: no body at all (416). */
  readonly bodyAllowed: boolean;
  /** 206: bytes to skip, then to send, of the backend's body. */
  readonly window: { skip: number; take: number } | undefined;
}

/**
 * Byte ranges of the backend's answer: 206 with the window the client asked for, or 416; the
 * store, if any, still gets the whole body. Sets Content-Range / Content-Length / Accept-Ranges.
 */
export function applyRange(
  res: ServerResponse,
  head: CgiResponseHead,
  status: number,
  ctx: PlanContext,
): RangeOutcome {
  const none = { status, bodyAllowed: true, window: undefined };
  const request = ctx.range;
  if (request === undefined || status !== head.status) return none;
  const force = ctx.forceRanges === true;
  const plan = planUpstreamRange(request, ctx.method, head, force);
  if (force && status === 200 && head.contentLength !== undefined && !res.hasHeader('accept-ranges')) {
    res.setHeader('Accept-Ranges', 'bytes');
  }
  if (plan.kind === 'none') return none;
  if (plan.kind === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${plan.size}`);
    res.setHeader('Content-Length', 0);
    return { status: 416, bodyAllowed: false, window: undefined };
  }
  res.setHeader('Content-Range', `bytes ${plan.start}-${plan.end}/${plan.size}`);
  res.setHeader('Content-Length', plan.end - plan.start + 1);
  return { status: 206, bodyAllowed: true, window: { skip: plan.start, take: plan.end - plan.start + 1 } };
}

/** Buffering for this response: the route's, unless X-Accel-Buffering says otherwise. */
export function bufferingFor(head: CgiResponseHead, ctx: PlanContext): ResponseQueueOptions | undefined {
  let on = ctx.bufferingOn === true;
  if (ctx.xAccelBuffering === true) {
    for (const [name, value] of head.headers) {
      if (name.toLowerCase() !== 'x-accel-buffering') continue;
      const v = value.trim().toLowerCase();
      if (v === 'yes') on = true;
      else if (v === 'no') on = false;
    }
  }
  return on ? ctx.buffering : undefined;
}

/**
 * The pace of the body (bytes/s, 0: none) from limit_rate or the backend's
 * X-Accel-Limit-Rate; and X-Accel-Charset's charset put on a text Content-Type without one.
 */
export function paceAndCharset(res: ServerResponse, head: CgiResponseHead, ctx: PlanContext): number {
  let rate = ctx.limitRate ?? 0;
  let charset: string | undefined;
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === 'x-accel-limit-rate' && ctx.xAccelLimitRate === true) {
      rate = parseLimitRate(value) ?? rate;
    } else if (lower === 'x-accel-charset' && ctx.xAccelCharset === true && /^[A-Za-z0-9._-]+$/.test(value)) {
      charset = value;
    }
  }
  // nginx's charset filter: the charset goes on a text type that does not name one.
  const type = res.getHeader('content-type');
  if (charset !== undefined && typeof type === 'string' && /^text\//i.test(type) && !/charset=/i.test(type)) {
    res.setHeader('Content-Type', `${type}; charset=${charset}`);
  }
  return rate;
}

/** nginx store: a 200 GET response is written to a temp file as it passes; undefined: not stored. */
export function openStore(status: number, ctx: PlanContext): ResponseStore | undefined {
  const store = ctx.store;
  if (store === undefined || status !== 200 || ctx.method !== 'GET') return undefined;
  try {
    return new ResponseStore(store.path, store.mode);
  } catch (error) {
    ctx.log.log('error', `store: cannot create a file for ${store.path} (${(error as Error).message})`, {
      requestId: ctx.requestId,
      backend: ctx.backend,
    });
    return undefined;
  }
}

/** Ends the store: the file takes its place if the response was complete, else nothing is kept. */
export function closeStore(stored: ResponseStore, complete: boolean, ctx: PlanContext): void {
  try {
    if (complete) stored.commit();
    else stored.discard();
  } catch (error) {
    stored.discard();
    ctx.log.log('error', `store: ${(error as Error).message}`, {
      requestId: ctx.requestId,
      backend: ctx.backend,
    });
  }
}
